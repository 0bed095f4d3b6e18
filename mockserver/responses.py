"""Answers made with the least work: the hot routes' JSON, and a finished stream in one write.

Starlette's `JSONResponse` builds a JSON encoder and normalises its headers on every response;
these encode with one encoder made once and take their headers as the bytes they go out as. The
bytes on the wire are the same as Starlette's (its JSON settings, its header order).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

#: What `JSONResponse.render` does (``json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
#: separators=(",", ":"))``), with the encoder made once: json's own C encoder, as `JSONEncoder.encode` makes
#: it on every call. Without its check for circular references: an answer is a tree of fresh values.
_MAKE = getattr(json.encoder, "c_make_encoder", None)  # None where json has no C accelerator
_C_ENCODER: Callable[[Any, int], list[str]] | None = _MAKE(
    None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ":", ",", False, False, False,
) if _MAKE is not None else None
_PY_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode


def _encode(content: Any) -> str:
    if _C_ENCODER is None or isinstance(content, str):
        return _PY_ENCODE(content)
    return "".join(_C_ENCODER(content, 0))


_JSON = (b"content-type", b"application/json")


class JsonAnswer(Response):
    """``JSONResponse(content, status_code, headers)``, byte for byte, with less work per answer."""

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        # Not Response.__init__: its header handling is what this saves.
        self.status_code = status_code
        self.background = None
        self.body = _encode(content).encode("utf-8")
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
        raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        raw.append(_JSON)
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


class FinishedStream(Response):
    """A stream whose run is already over (``--speed 0``, or a late reader): the same bytes, headers
    and chunked transfer as a `StreamingResponse`, in one write and without its disconnect-watching
    task group, which only matters while a stream waits."""

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        # Not Response.__init__: it would add a Content-Length, which a stream must not have.
        self.status_code = 200
        self.background = None
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.whole = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.whole, "more_body": False})


class RequestHeaders(Headers):
    """A request's headers, looked up in a dict made with them (Starlette's scan the list, decoding
    each name, and raise a KeyError inside ``get`` for every header that is absent). Made once per
    request, by the middleware, which reads the world's name from it first."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        # The first of repeated headers wins, as in Starlette's lookups.
        self._index = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(self._list)}

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def get(self, key: str, default: Any = None) -> Any:
        return self._index.get(key.lower(), default)


class ApiRequest(Request):
    """The request a handler gets: Starlette's, with `RequestHeaders` (the middleware's, which it
    keeps in the scope as ``recoup.headers``, or its own)."""

    @property
    def headers(self) -> Headers:
        headers: Headers | None = self.scope.get("recoup.headers")
        if headers is None:
            headers = self.scope["recoup.headers"] = RequestHeaders(scope=self.scope)
        return headers
