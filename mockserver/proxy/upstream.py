"""The proxy's side that faces the target: an httpx client that sends exactly what it is given, and which
headers cross the proxy in each direction (RFC 9110 §7.6.1).

Imports nothing else from the package but `mockserver.errors` (which imports nothing from it).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
from typing import Any

import httpx

from ..errors import sole_exception

#: Not forwarded to the target (RFC 9110 §7.6.1): they are about the client's connection to the proxy.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
                        b"upgrade", b"proxy-authenticate", b"proxy-authorization"})
#: Request headers httpx sets from the target URL and the body.
REQUEST_OWN = frozenset({b"host", b"content-length"})
#: Not forwarded back: the framing, which the proxy's server redoes. ``Connection: keep-alive`` does go back,
#: as sent: it is one of the AI SDK's stream headers, and a client may look for it (a ``close`` is honoured).
RESPONSE_FRAMING = frozenset({b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-connection",
                              b"proxy-authenticate"})
#: Connecting to the target; reading has no bound (a stream may be silent for long).
CONNECT_TIMEOUT = 10.0


class UpstreamDropped(Exception):
    """The target dropped the connection mid-answer: the client's is dropped too (raised after the
    response has started, so the server aborts the connection instead of ending the body)."""


class _NoCookies(http.cookiejar.CookieJar):
    """The upstream client keeps no cookies: one client's ``Set-Cookie`` must never reach another's request."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


def upstream_client() -> httpx.AsyncClient:
    """An httpx client that sends exactly the headers it is given (none of its own defaults, no cookies)."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT), cookies=_NoCookies(),
                               follow_redirects=False, trust_env=False)
    for name in list(client.headers):  # Accept, Accept-Encoding, Connection, User-Agent
        del client.headers[name]
    return client


def forwarded(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A request's headers for the target: without the hop-by-hop ones, those its ``Connection`` names,
    and those httpx sets."""
    named = {n.strip().lower() for k, v in headers if k.lower() == b"connection" for n in v.split(b",")}
    drop = HOP_BY_HOP | named | REQUEST_OWN
    return [(k, v) for k, v in headers if k.lower() not in drop]


def returned(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers for the client: all of them, in order, but the framing."""
    return [(k, v) for k, v in headers if k.lower() not in RESPONSE_FRAMING]


class ProxyLogFilter(logging.Filter):
    """Hide uvicorn's traceback for a stream the target dropped (the proxy logs it in one line), and for
    one the proxy cut as it stopped (uvicorn cancels what outlives its grace period; the exchange's line
    says so)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = sole_exception(record)
        if isinstance(exc, UpstreamDropped):
            logging.getLogger("recoup_mock.proxy").info("%s", exc)
            return False
        return not isinstance(exc, asyncio.CancelledError)
