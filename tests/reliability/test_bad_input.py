"""Hostile input over a real socket: every case is a 4xx with the error body and CORS, and the
server keeps serving. Bodies and paths are sent raw, byte for byte, so nothing is normalised away."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from support import ALICE, CHAT_BUSY, CHAT_IDLE, LiveServer, live_server

JSON = b"application/json"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(speed=0, body_timeout_seconds=0.5) as s:  # the default 1 MiB body limit
        yield s


def exchange(server: LiveServer, request: bytes, *, hold: float | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; read one response (Connection: close); ``hold`` keeps the socket open unread."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def post(path: bytes, body: bytes, ctype: bytes = JSON, extra: bytes = b"") -> bytes:
    return (b"POST " + path + b" HTTP/1.1\r\nhost: t\r\nconnection: close\r\nx-api-key: " + ALICE.encode()
            + b"\r\ncontent-type: " + ctype + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n"
            + extra + b"\r\n" + body)


def get(path: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nhost: t\r\nconnection: close\r\nx-api-key: " + ALICE.encode() + b"\r\n\r\n"


CHAT_OK = {"chatId": CHAT_IDLE, "sessionId": "5e551011-0000-4000-8000-000000000001"}
CASES = {
    # Declared too long, and no body sent: the server refuses before reading (sending it all after the
    # server has answered and closed would only get a TCP reset; the streamed case is an in-process test).
    "body over the limit": (post(b"/api/chat", b"").replace(b"content-length: 0", b"content-length: 2097152"), 413),
    "invalid UTF-8": (post(b"/api/chat", b'{"a":"\xff\xfe"}'), 400),
    "JSON nested 100,000 deep": (post(b"/api/chat", b"[" * 100_000 + b"]" * 100_000), 400),
    "nesting inside a message": (post(b"/api/chat", json.dumps(
        {**CHAT_OK, "messages": [{"role": "user", "parts": []}]}).encode().replace(b"[]", b"[" * 3000 + b"]" * 3000)),
        400),
    "raw NUL byte": (post(b"/api/chat", b'{"messages":\x00[]}'), 400),
    "5,000-digit integer": (post(b"/api/chat/runs", b'{"prompt":"x","model":' + b"9" * 5000 + b"}"), 400),
    "5,000-digit float": (post(b"/api/chat/runs", b'{"prompt":"x","model":1' + b"0" * 5000 + b".5}"), 400),
    "NaN": (post(b"/api/chat/runs", b'{"prompt":"x","model":NaN}'), 400),
    "Infinity in a free-form field": (post(b"/api/chat/runs", b'{"messages":[{"role":"user","metadata":Infinity}]}'),
                                      400),
    "array for an object": (post(b"/api/chat", b"[]"), 400),
    "empty body": (post(b"/api/chat", b""), 400),
    "BOM": (post(b"/api/chat/runs", b'\xef\xbb\xbf{"prompt":"x"}'), 400),
    "wrong content type": (post(b"/api/chat", b"{}", b"text/plain"), 415),
    "form content type": (post(b"/api/chat/runs", b"prompt=x", b"application/x-www-form-urlencoded"), 415),
    "path traversal id": (get(b"/api/chat/..%2F..%2F/stream"), 404),
    "NUL in a path id": (get(b"/api/chat/%00/stream"), 400),
    "5,000-character id": (get(b"/api/chat/" + b"a" * 5000 + b"/stream"), 400),
    "5,000-character run id": (get(b"/api/chat/runs/" + b"a" * 5000), 400),
    "huge startIndex": (get(b"/api/chat/" + CHAT_BUSY.encode() + b"/stream?startIndex=" + b"9" * 5000), 400),
    "scenario name with a path": (post(b"/api/chat/runs", b'{"prompt":"x"}', extra=b"prefer: scenario=../world\r\n"),
                                  400),
    "scenario marker with a path": (post(b"/api/chat/runs", b'{"prompt":"[scenario:../../etc/passwd]"}'), 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_a_clear_4xx(server: LiveServer, case: str) -> None:
    request, expected = CASES[case]
    status, headers, body = exchange(server, request)
    if expected == 200:  # the marker pattern never matches a path: the default scenario answers
        assert status == 202, body
        return
    assert status == expected, body[:300]
    assert headers["access-control-allow-origin"] == "*"
    error = json.loads(body)
    assert error["status"] == "error" and error["message"]
    assert len(body) < 2000, "error messages must not echo huge inputs"


def test_a_stalled_upload_gets_408_and_does_not_hang(server: LiveServer) -> None:
    partial = post(b"/api/chat/runs", b'{"prompt":"x"}')[:-4]  # 4 bytes of the body never come
    status, headers, body = exchange(server, partial)
    assert status == 408 and json.loads(body)["message"].startswith("Request body did not arrive")
    assert headers["access-control-allow-origin"] == "*"


def test_the_server_still_serves_and_holds_nothing(server: LiveServer) -> None:
    status, _, _ = exchange(server, get(b"/api/chat/" + CHAT_IDLE.encode() + b"/stream"))
    assert status == 204
    state = json.loads(exchange(server, get(b"/__mock/status"))[2])
    assert state["readers"] == 0
