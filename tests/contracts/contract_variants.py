"""Variants of the mock that each carry one planted defect: small ASGI middlewares around the real app.

Each wrapper changes one thing a broken server could get wrong, and nothing else, so that the test
that serves it can ask the contract suite to name exactly the check that should catch it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mockserver import Settings, create_app
from mockserver.state import fixture_ids

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALICE, BOB = fixture_ids.ALICE, fixture_ids.BOB


def faithful(speed: float = 0) -> ASGIApp:
    """The mock as shipped, at full speed (or paced like a model, ``speed=1``)."""
    app: ASGIApp = create_app(Settings(speed=speed, access_log=False))
    return app


def _headers(message: Message) -> list[tuple[bytes, bytes]]:
    return list(message.get("headers", []))


def _content_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def _without(headers: list[tuple[bytes, bytes]], *names: bytes) -> list[tuple[bytes, bytes]]:
    lowered = {name.lower() for name in names}
    return [(k, v) for k, v in headers if k.lower() not in lowered]


class Wrapper:
    """Base: pass everything through; subclasses override the hooks they need."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class StripRunIdHeader(Wrapper):
    """Defect: streams lose their `x-workflow-run-id` header."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _without(_headers(message), b"x-workflow-run-id")
            await send(message)

        await self.app(scope, receive, patched)


class NoContentAsEmptyStream(Wrapper):
    """Defect: "nothing to resume" is an empty 200 event stream instead of a 204."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 204:
                message["status"] = 200
                message["headers"] = [*_without(_headers(message), b"content-type"),
                                      (b"content-type", b"text/event-stream")]
            await send(message)

        await self.app(scope, receive, patched)


class SseRewriter(Wrapper):
    """Rewrites the events of every event-stream body, one whole event at a time."""

    def rewrite(self, event: bytes, state: dict[str, Any]) -> list[bytes]:
        return [event]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {"sse": False, "buffer": b""}

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["sse"] = _content_type(_headers(message)) == "text/event-stream"
                await send(message)
                return
            if message["type"] != "http.response.body" or not state["sse"]:
                await send(message)
                return
            buffer = state["buffer"] + message.get("body", b"")
            out: list[bytes] = []
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                out.extend(self.rewrite(event + b"\n\n", state))
            more = message.get("more_body", False)
            if not more:
                out.append(buffer)
                buffer = b""
            state["buffer"] = buffer
            await send({"type": "http.response.body", "body": b"".join(out), "more_body": more})

        await self.app(scope, receive, patched)


def _chunk(event: bytes) -> dict[str, Any] | None:
    match = re.match(rb"data: (\{.*\})\n\n$", event, re.S)
    if match is None:
        return None
    value = json.loads(match.group(1))
    return value if isinstance(value, dict) else None


def _event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


class DropFirstTextStart(SseRewriter):
    """Defect: the first `text-start` of each stream goes missing (its deltas arrive with no open part)."""

    def rewrite(self, event: bytes, state: dict[str, Any]) -> list[bytes]:
        chunk = _chunk(event)
        if chunk is not None and chunk.get("type") == "text-start" and not state.get("dropped"):
            state["dropped"] = True
            return []
        return [event]


class InjectUnknownChunk(SseRewriter):
    """Defect: a `message-start` chunk (a type no AI SDK version has) after `start`."""

    def rewrite(self, event: bytes, state: dict[str, Any]) -> list[bytes]:
        chunk = _chunk(event)
        if chunk is not None and chunk.get("type") == "start":
            return [event, _event({"type": "message-start"})]
        return [event]


class ExtraChunkKey(SseRewriter):
    """Defect: an extra key in a chunk (`"foo": 1` on the first `text-delta`): strict clients reject it."""

    def rewrite(self, event: bytes, state: dict[str, Any]) -> list[bytes]:
        chunk = _chunk(event)
        if chunk is not None and chunk.get("type") == "text-delta" and not state.get("done"):
            state["done"] = True
            return [_event({**chunk, "foo": 1})]
        return [event]


class EveryoneIsAlice(Wrapper):
    """Defect: credentials are ignored: every request, even one without any, acts as Alice."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _without(list(scope.get("headers", [])), b"x-api-key", b"authorization")
        scope = {**scope, "headers": [*headers, (b"x-api-key", ALICE.encode())]}
        await self.app(scope, receive, send)


class PeerReadsSessions(Wrapper):
    """Defect: no ownership check on `GET /api/sessions/{id}`: Bob reads Alice's sessions."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = list(scope.get("headers", []))
        is_read = scope["method"] == "GET" and re.fullmatch(r"/api/sessions/[^/]+", scope["path"]) is not None
        if is_read and (b"x-api-key", BOB.encode()) in headers:
            headers = [*_without(headers, b"x-api-key"), (b"x-api-key", ALICE.encode())]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class JsonRewriter(Wrapper):
    """Buffers JSON bodies so that a subclass can rewrite them (and fixes `content-length`)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return True

    def rewrite(self, body: Any) -> Any:
        return body

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {"start": None, "body": b""}

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _headers(message)
                if _content_type(headers) == "application/json" and self.applies(scope, message["status"]):
                    state["start"] = message
                    return
                await send(message)
                return
            if message["type"] != "http.response.body" or state["start"] is None:
                await send(message)
                return
            state["body"] += message.get("body", b"")
            if message.get("more_body", False):
                return
            body = json.dumps(self.rewrite(json.loads(state["body"]))).encode()
            start = state["start"]
            start["headers"] = [*_without(_headers(start), b"content-length"),
                                (b"content-length", str(len(body)).encode())]
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, patched)


class RenameErrorMessage(JsonRewriter):
    """Defect: error bodies say `error` where the contract says `message` (what production does)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status >= 400

    def rewrite(self, body: Any) -> Any:
        if isinstance(body, dict) and "message" in body:
            body = {("error" if key == "message" else key): value for key, value in body.items()}
        return body


class StatusOutsideEnum(JsonRewriter):
    """Defect: run status `done`, a value the contract's enum does not have."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and scope["method"] == "GET" and scope["path"].startswith("/api/chat/runs/")

    def rewrite(self, body: Any) -> Any:
        if isinstance(body, dict) and body.get("status") == "completed":
            body = {**body, "status": "done"}
        return body


class AcceptedAsOk(Wrapper):
    """Defect: `POST /api/chat/runs` answers 200 where the contract documents 202."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 202:
                message["status"] = 200
            await send(message)

        await self.app(scope, receive, patched)


class ServerErrorOnEdgeInput(Wrapper):
    """Defect: a 500 on one edge input: resume with `startIndex=0` (the documented default, sent explicitly)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        if scope["path"].endswith("/stream") and re.search(r"(^|&)startIndex=0(&|$)", query):
            body = b'{"status":"error","message":"Internal server error"}'
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class NeverCloses(Wrapper):
    """Defect: event streams never close: after `[DONE]` the body stays open until the client gives up."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"sse": False, "held": False}

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["sse"] = _content_type(_headers(message)) == "text/event-stream"
            if (message["type"] == "http.response.body" and state["sse"]
                    and not message.get("more_body", False)):
                await send({**message, "more_body": True})
                state["held"] = True
                return
            await send(message)

        await self.app(scope, receive, patched)
        if state["held"]:
            # Hold the connection until the client disconnects (or the server shuts down).
            while (await receive())["type"] != "http.disconnect":
                pass
            await send({"type": "http.response.body", "body": b"", "more_body": False})


#: What the fixture world's session ids share (all but their last group).
WORLD_SESSION_PREFIX = fixture_ids.SESSION_READY.rpartition("-")[0] + "-"


class HideFixtureWorld(Wrapper):
    """Not a defect: the fixture world's sessions answer 404, so the suite treats the mock like any target
    (and tests the 409 with two overlapping POSTs instead of the pinned busy chat)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(f"/api/sessions/{WORLD_SESSION_PREFIX}"):
            body = b'{"status":"error","message":"Session not found"}'
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class PostResumesLiveRun(Wrapper):
    """Defect (and deployed drift): a POST on a chat whose run is live replays that run instead of a 409."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {}

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 409:
                state["conflict"] = True
                return
            if state.get("conflict"):
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    await _send_replay(send)
                return
            await send(message)

        await self.app(scope, receive, patched)


async def _send_replay(send: Send) -> None:
    body = _event({"type": "start", "messageId": "replayed"}) + _event({"type": "finish"}) + b"data: [DONE]\n\n"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"),
                            (b"x-workflow-run-id", b"wrun_01KVWZNM82NA7XKNEWWHG8VPHJ")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class EndlessStream(Wrapper):
    """Defect: event streams go on for ever (keep-alive comments, never `[DONE]`, never EOF)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"sse": False, "endless": False}
        padding = b": " + b"x" * 1024 + b"\n\n"

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["sse"] = _content_type(_headers(message)) == "text/event-stream"
            if message["type"] == "http.response.body" and state["sse"] and not message.get("more_body", False):
                state["endless"] = True
                return  # drop the end of the body, `[DONE]` included
            await send(message)

        await self.app(scope, receive, patched)
        sent = 0
        # Bounded only so that a test server cannot spin for ever once the client has gone.
        while state["endless"] and sent < 64 * 1024 * 1024:
            await send({"type": "http.response.body", "body": padding, "more_body": True})
            sent += len(padding)
        if state["endless"]:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


# ---------------------------------------------------------------------------------------- the surface's state
_SESSION_READ = re.compile(r"/api/sessions/[^/]+")
_SESSION_CHAT = re.compile(r"/api/sessions/[^/]+/chats/[^/]+")
_SESSION_CHATS = re.compile(r"/api/sessions/[^/]+/chats")


def _is(scope: Scope, method: str, path: re.Pattern[str] | str) -> bool:
    if scope["method"] != method:
        return False
    return scope["path"] == path if isinstance(path, str) else path.fullmatch(scope["path"]) is not None


async def _answer(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class SandboxNeverActive(JsonRewriter):
    """Defect: the sandbox status says `no_sandbox` for ever, though `POST /api/sandbox` answered."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", "/api/sandbox/status")

    def rewrite(self, body: Any) -> Any:
        return {**body, "status": "no_sandbox"}


class SessionTitleLost(JsonRewriter):
    """Defect: a session reads back without the title it was made with (`New session`)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", _SESSION_READ)

    def rewrite(self, body: Any) -> Any:
        return {**body, "session": {**body["session"], "title": "New session"}}


class _StoredAnswers(JsonRewriter):
    """Rewrites the stored assistant messages of `GET /api/sessions/{sessionId}/chats/{chatId}`."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", _SESSION_CHAT)

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        return message

    def rewrite(self, body: Any) -> Any:
        messages = [self.answer(m) if m.get("role") == "assistant" else m for m in body["messages"]]
        return {**body, "messages": messages}


class AnswerStoredUnderAnotherId(_StoredAnswers):
    """Defect: the assistant message is stored under an id of its own, not the stream's `messageId`."""

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "id": f"stored-{message['id']}"}


class AnswerTextAltered(_StoredAnswers):
    """Defect: the stored assistant message's text is not what was streamed (its last word lost)."""

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        parts = [{**p, "text": p["text"].rsplit(" ", 1)[0]} if p.get("type") == "text" else p
                 for p in message["parts"]]
        return {**message, "parts": parts}


class SessionChatsAsArray(JsonRewriter):
    """Defect: a session's chat list answers a bare JSON array of its chats (not `{chats, defaultModelId}`)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", _SESSION_CHATS)

    def rewrite(self, body: Any) -> Any:
        return body["chats"]


class SidebarKeepsOldTitles(JsonRewriter):
    """Defect: a rename never reaches the sidebar (`GET /api/chats` shows every chat as `New chat`)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", "/api/chats")

    def rewrite(self, body: Any) -> Any:
        return {**body, "chats": [{**chat, "title": "New chat"} for chat in body["chats"]]}


class DeleteKeepsChat(Wrapper):
    """Defect: deleting a session's chat answers `{success: true}` and deletes nothing (it stays listed)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is(scope, "DELETE", _SESSION_CHAT):
            await _answer(send, 200, {"success": True})
            return
        await self.app(scope, receive, send)


class ReadMarkIgnored(Wrapper):
    """Defect: `POST …/read` answers `{success: true}` and marks nothing (the chat stays unread)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is(scope, "POST", re.compile(r"/api/sessions/[^/]+/chats/[^/]+/read")):
            await _answer(send, 200, {"success": True})
            return
        await self.app(scope, receive, send)


class NeverUnread(JsonRewriter):
    """Defect: a finished turn never makes its chat unread (`hasUnread` is always false)."""

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and _is(scope, "GET", _SESSION_CHATS)

    def rewrite(self, body: Any) -> Any:
        return {**body, "chats": [{**chat, "hasUnread": False} for chat in body["chats"]]}


class PeerActsAsOwner(Wrapper):
    """Defect: no ownership check on one operation: Bob's request acts as Alice (a cross-account 200)."""

    method: str = ""
    path: re.Pattern[str] | str = ""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = list(scope.get("headers", []))
        if _is(scope, self.method, self.path) and (b"x-api-key", BOB.encode()) in headers:
            scope = {**scope, "headers": [*_without(headers, b"x-api-key"), (b"x-api-key", ALICE.encode())]}
        await self.app(scope, receive, send)


class PeerDeletesSessionChats(PeerActsAsOwner):
    """Defect: Bob deletes Alice's session chats (`DELETE /api/sessions/{sessionId}/chats/{chatId}`)."""

    method, path = "DELETE", _SESSION_CHAT


class PeerRenamesRooms(PeerActsAsOwner):
    """Defect: Bob renames Alice's rooms (`PATCH /api/chats`)."""

    method, path = "PATCH", "/api/chats"


#: Deeper than Python's JSON parser follows (valid JSON all the same).
DEEP_DATA = "[" * 100_000 + "]" * 100_000


class DeepEvent(SseRewriter):
    """Defect: after `start`, each stream has a `data-x` chunk nested deeper than a JSON parser follows."""

    def rewrite(self, event: bytes, state: dict[str, Any]) -> list[bytes]:
        chunk = _chunk(event)
        if chunk is not None and chunk.get("type") == "start":
            return [event, b'data: {"type":"data-x","data":' + DEEP_DATA.encode() + b"}\n\n"]
        return [event]


#: Each planted defect: its wrapper, and the check of the suite that must name it.
DEFECTS: dict[str, tuple[type[Wrapper], str]] = {
    "run-id-header-missing": (StripRunIdHeader, "response_headers_conformance"),
    "no-content-as-empty-stream": (NoContentAsEmptyStream, "resume_no_content"),
    "text-start-dropped": (DropFirstTextStart, "stream_ordering"),
    "unknown-chunk-type": (InjectUnknownChunk, "response_schema_conformance"),
    "extra-chunk-key": (ExtraChunkKey, "response_schema_conformance"),
    "credentials-ignored": (EveryoneIsAlice, "ignored_auth"),
    "error-message-renamed": (RenameErrorMessage, "response_schema_conformance"),
    "ok-instead-of-accepted": (AcceptedAsOk, "status_code_conformance"),
    "status-outside-enum": (StatusOutsideEnum, "response_schema_conformance"),
    "server-error-on-edge-input": (ServerErrorOnEdgeInput, "not_a_server_error"),
    "stream-never-closes": (NeverCloses, "stream_closes"),
    "peer-reads-sessions": (PeerReadsSessions, "object_level_authorization"),
    "sandbox-never-active": (SandboxNeverActive, "sandbox_becomes_active"),
    "session-title-lost": (SessionTitleLost, "created_reads_back"),
    "answer-stored-under-another-id": (AnswerStoredUnderAnotherId, "turn_persisted"),
    "answer-text-altered": (AnswerTextAltered, "turn_persisted"),
    "deep-event": (DeepEvent, "turn_persisted"),
    "session-chats-as-array": (SessionChatsAsArray, "created_reads_back"),
    "rename-not-in-sidebar": (SidebarKeepsOldTitles, "rename_shows_everywhere"),
    "delete-keeps-chat": (DeleteKeepsChat, "delete_leaves_404"),
    "read-mark-ignored": (ReadMarkIgnored, "read_marks_flip"),
    "never-unread": (NeverUnread, "read_marks_flip"),
    "peer-deletes-session-chats": (PeerDeletesSessionChats, "cross_account_refused"),
    "peer-renames-rooms": (PeerRenamesRooms, "cross_account_refused"),
}


def variant(name: str) -> ASGIApp:
    wrapper, _ = DEFECTS[name]
    return wrapper(faithful())
