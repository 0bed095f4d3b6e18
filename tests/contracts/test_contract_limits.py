"""The suite bounded against a deployment, seen from the target: a counting reverse proxy in front of
the bundled mock records each request's arrival, method, path and headers, and the suite runs with
``--base-url`` pointing at the proxy.

- ``--rate-limit 10/s``: no second of the run (flows and phases alike) holds more than 11 requests;
- ``--max-streams 5``: at most 5 requests that could start an agent run reach the target, and the
  report counts the ones it skipped; a re-send after a 429, in the flows or the phases, needs a place
  of its own, or the 429 stands;
- a 429 is waited out (``Retry-After``) and the request sent again in the phases as in the flows,
  with ``--rate-limit`` too;
- ``--exclude``: the operation is never called, by the phases or the flows;
- ``--dry-run``: nothing is sent;
- ``--header``: on every request, and in no output (console, JUnit, Markdown, step summary).

Each run is narrowed to what it shows (few operations, phases and examples), to stay fast.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from contract_variants import (
    ALICE,
    BOB,
    ASGIApp,
    DropFirstTextStart,
    Message,
    Receive,
    Scope,
    Send,
    ServerErrorOnEdgeInput,
    faithful,
)

from mockserver.cli import main
from mockserver.contracts.limits import RunLimits, StreamCap, StreamCapReached
from mockserver.contracts.report import ContractReport
from mockserver.serving import ServedApp

SEED = "11"
#: Requests that could start an agent run, by path (all POST).
STREAM_PATHS = {"/api/chat", "/api/chat/workflow", "/api/chat/runs", "/legacy/api/chat"}
#: Hop-by-hop headers: the proxy's own business, never forwarded.
HOP = {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"te", b"upgrade",
       b"proxy-connection"}
SECRET = "s3cr3t-bypass-7f2d9c41"


@dataclass(frozen=True)
class Seen:
    at: float
    method: str
    path: str
    headers: dict[str, str]

    @property
    def ours(self) -> bool:
        """Carries one of the run's keys (x-api-key or Authorization)."""
        credentials = self.headers.get("x-api-key", "") + self.headers.get("authorization", "")
        return ALICE in credentials or BOB in credentials

    @property
    def could_start_a_run(self) -> bool:
        return self.method == "POST" and self.path in STREAM_PATHS and self.ours


class CountingProxy:
    """An ASGI reverse proxy: records each request as it arrives, forwards it as it came (raw path,
    query, headers, body) to ``upstream``, and streams the answer back chunk by chunk."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        arrived = time.monotonic()
        headers = list(scope["headers"])
        with self._lock:
            self.seen.append(Seen(arrived, scope["method"], scope["path"],
                                  {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}))
        body = b""
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        assert self._client is not None
        request = self._client.build_request(scope["method"], self.upstream + target, content=body,
                                             headers=[(k, v) for k, v in headers if k.lower() not in HOP])
        response = await self._client.send(request, stream=True)
        try:
            kept = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP - {b"content-length"}]
            await send({"type": "http.response.start", "status": response.status_code, "headers": kept})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(timeout=None)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass
class Front:
    base_url: str
    proxy: CountingProxy

    @property
    def seen(self) -> list[Seen]:
        return list(self.proxy.seen)


def front_of(app: ASGIApp) -> Iterator[Front]:
    proxy = CountingProxy("")
    with ServedApp(app) as upstream, ServedApp(proxy) as front:
        proxy.upstream = upstream.base_url
        yield Front(front.base_url, proxy)


@pytest.fixture
def front() -> Iterator[Front]:
    """The bundled mock (speed 0) behind a counting proxy."""
    yield from front_of(faithful())


def contract(capsys: pytest.CaptureFixture[str], front: Front, *args: str) -> tuple[int, str]:
    code = main(["contract", "--base-url", front.base_url, "--api-key", ALICE, "--other-api-key", BOB,
                 "--seed", SEED, *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured.out + captured.err


def busiest_second(seen: list[Seen]) -> int:
    """The most requests that arrived within any one second (a window starting at each arrival)."""
    times = sorted(item.at for item in seen)
    most, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_busiest_second_counts_a_sliding_window() -> None:
    seen = [Seen(at, "GET", "/", {}) for at in (0.0, 0.5, 0.99, 1.0, 1.2, 3.0)]
    assert busiest_second(seen) == 4  # 0.5, 0.99, 1.0 and 1.2 (0.0 and 1.0 are a second apart: not both)
    assert busiest_second(seen[:3]) == 3


def test_rate_limit_holds_for_every_second_of_flows_and_phases(capsys: pytest.CaptureFixture[str],
                                                               front: Front) -> None:
    code, out = contract(capsys, front, "--rate-limit", "10/s", "--flows", "resume_idle,foreign_chat",
                         "--phases", "examples,fuzzing", "--include", "getSession", "--include",
                         "getChatRunStatus,listSessionChats", "--max-examples", "5")
    assert code == 0, out
    assert "at most 10 requests a second" in out
    assert re.search(r"flows [1-9]\d*", out) and re.search(r"phase:fuzzing [1-9]\d*", out), out
    seen = front.seen
    assert len(seen) >= 30, len(seen)
    assert busiest_second(seen) <= 11, busiest_second(seen)
    # Unthrottled, the same requests would take a fraction of a second.
    assert seen[-1].at - seen[0].at >= (len(seen) - 11) / 10


def test_max_streams_caps_what_reaches_the_target_and_counts_the_rest(
        capsys: pytest.CaptureFixture[str], front: Front, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    summary = tmp_path / "summary.md"
    # The flows alone want 9 (four turns, two credentialed refusals on each of two operations, a run), and
    # coverage and fuzzing generate hundreds on these operations.
    code, out = contract(capsys, front, "--max-streams", "5", "--flows", "chat_turn,credentials,run_lifecycle",
                         "--phases", "coverage,fuzzing", "--include", "postChat,startChatRun,legacyChat",
                         "--max-examples", "5", "--report", str(summary))
    assert code == 0, out
    assert "at most 5 requests that could start an agent run (--max-streams" in out
    reached = [item for item in front.seen if item.could_start_a_run]
    assert len(reached) == 5, [(item.method, item.path) for item in reached]
    counted = re.search(r"could start an agent run: (\d+) sent .*?; (\d+) skipped at the cap \((.*)\)", out)
    assert counted is not None, out
    assert int(counted.group(1)) == 5
    assert int(counted.group(2)) > 5 and "flows" in counted.group(3) and "phase:coverage" in counted.group(3)
    assert "not sent (--max-streams)" in out  # the flows say which steps they skipped
    assert "| Requests that could start an agent run | 5 sent," in summary.read_text(encoding="utf-8")
    # Requests that cannot start a run (no key of ours) still go out: the credentials flow's refusals.
    assert any(item.method == "POST" and item.path in STREAM_PATHS and not item.ours for item in front.seen)


class TooManyRequests:
    """Every POST /api/chat is answered 429 (retry at once): each retry is another request that could start a run."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/api/chat":
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"retry-after", b"0"), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"status":"error","message":"slow down"}'})
            return
        await self.app(scope, receive, send)


def test_retries_after_429_need_room_under_the_cap_too(capsys: pytest.CaptureFixture[str]) -> None:
    for front in front_of(TooManyRequests(faithful())):
        code, out = contract(capsys, front, "--max-streams", "3", "--flows", "chat_turn", "--phases", "none")
        reached = [item for item in front.seen if item.could_start_a_run]
    assert code == 1, out  # the turn that never got past its 429s
    assert len(reached) == 3, [(item.method, item.path) for item in reached]
    assert "3 sent (flows 3), at most 3 (--max-streams)" in out


def test_the_phases_retries_after_429_need_room_under_the_cap(capsys: pytest.CaptureFixture[str]) -> None:
    """Waiting out 429s (the default against a --base-url), each re-send of a generated turn is another
    request that could start a run: it needs room under the cap, or the 429 stands."""
    for front in front_of(TooManyRequests(faithful())):
        _, out = contract(capsys, front, "--max-streams", "3", "--no-flows", "--phases", "fuzzing",
                          "--include", "postChat", "--max-examples", "5")
        reached = [item for item in front.seen if item.could_start_a_run]
    assert "rate limit auto" in out
    assert len(reached) == 3, [(item.method, item.path) for item in reached]
    assert re.search(r"could start an agent run: 3 sent \(phase:fuzzing 3\), at most 3 \(--max-streams\); "
                     r"[1-9]\d* skipped", out), out


class TooManyRequestsOnce:
    """Each distinct read of a session that Schemathesis sends (path, query, credentials) is answered 429 with
    `Retry-After: 0` the first time it arrives, and served when it comes again."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.refused: list[tuple[str, ...]] = []
        self.served_again: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        if (scope["type"] == "http" and scope["method"] == "GET" and b"x-schemathesis-testcaseid" in headers
                and re.fullmatch(r"/api/sessions/[^/]+", scope["path"])):
            key = (scope["path"], scope.get("query_string", b"").decode("latin-1"),
                   *(headers.get(name, b"").decode("latin-1") for name in (b"x-api-key", b"authorization")))
            with self._lock:
                first = key not in self.refused
                (self.refused if first else self.served_again).append(key)
            if first:
                await send({"type": "http.response.start", "status": 429,
                            "headers": [(b"retry-after", b"0"), (b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"status":"error","message":"slow down"}'})
                return
        await self.app(scope, receive, send)


def test_the_phases_wait_out_429s_under_a_rate_limit_too(capsys: pytest.CaptureFixture[str]) -> None:
    """`--rate-limit` bounds the rate; it does not turn the waiting on 429 (Retry-After) off: a 429 the
    target answers in the phases is waited out and the request sent again, as the flows do."""
    limited = TooManyRequestsOnce(faithful())
    for front in front_of(limited):
        code, out = contract(capsys, front, "--rate-limit", "10/s", "--no-flows", "--phases", "examples,fuzzing",
                             "--include", "getSession", "--max-examples", "5")
        seen = front.seen
    assert "at most 10 requests a second" in out
    # Every refused request came again (the same one), and no 429 is reported as a failure.
    assert limited.refused and set(limited.refused) <= set(limited.served_again), (limited.refused,
                                                                                    limited.served_again)
    assert code == 0, out
    assert len(limited.refused) >= 5, limited.refused  # the phases went on after the first one
    assert "429 on GET /api/sessions/{sessionId}: waited out (Retry-After), and sent again" in out
    assert busiest_second(seen) <= 11, busiest_second(seen)


def test_exclude_keeps_an_operation_from_ever_being_called(capsys: pytest.CaptureFixture[str], front: Front) -> None:
    code, out = contract(capsys, front, "--exclude", "stopChat", "--flows", "resume_idle,foreign_chat,credentials",
                         "--phases", "fuzzing,stateful", "--max-examples", "5")
    assert code == 0, out
    assert "28 of 29 operations" in out and "never called: stopChat" in out
    stop = re.compile(r"/api/chat/[^/]+/stop")
    stops = [item.path for item in front.seen if item.method == "POST" and stop.fullmatch(item.path)]
    assert stops == []
    assert re.search(r"flow credentials: \d+ request\(s\) to stopChat not sent \(--exclude\)", out), out
    assert len(front.seen) > 50  # everything else was tested


def test_dry_run_prints_the_plan_and_sends_nothing(capsys: pytest.CaptureFixture[str], front: Front) -> None:
    code, out = contract(capsys, front, "--dry-run", "--exclude", "legacyChat", "--phases", "coverage",
                         "--no-flows", "--header", f"x-bypass-token: {SECRET}")
    assert code == 0, out
    assert front.seen == []
    for expected in ("at most 20 requests that could start an agent run (the default against --base-url",
                     "rate limit auto", "request timeout 10 s",
                     "phases coverage on 28 of 29 operations; flows none (provisioning",
                     "never called: legacyChat", "operations the phases test (28):",
                     "postChat             POST /api/chat", "baseline: none", "x-bypass-token (value hidden",
                     "dry run, nothing was sent"):
        assert expected in out, expected
    assert SECRET not in out


def test_header_reaches_every_request_and_no_output_shows_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary, junit, markdown = tmp_path / "step-summary.md", tmp_path / "contract.xml", tmp_path / "contract.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # Failures of both kinds, so that there are curl commands to redact: a flow's (stream_ordering) and a
    # generated case's (not_a_server_error on resume with startIndex=0, which coverage sends).
    for front in front_of(DropFirstTextStart(ServerErrorOnEdgeInput(faithful()))):
        code, out = contract(capsys, front, "--header", f"X-Bypass-Token: {SECRET}", "--flows", "chat_turn",
                             "--phases", "coverage", "--include", "resumeChatStream", "--junit", str(junit),
                             "--report", str(markdown))
        seen = front.seen
    assert code == 1, out
    assert len(seen) > 10
    assert all(item.headers.get("x-bypass-token") == SECRET for item in seen), [
        (item.method, item.path) for item in seen if item.headers.get("x-bypass-token") != SECRET]
    outputs = {"console": out, "junit": junit.read_text(encoding="utf-8"),
               "markdown": markdown.read_text(encoding="utf-8"), "step summary": summary.read_text(encoding="utf-8")}
    for name, text in outputs.items():
        assert SECRET not in text, name
        assert SECRET[:12] not in text, name
    # The curl commands name the variable instead, so they run once it is exported.
    assert "check: stream_ordering" in out and "check: not_a_server_error" in out
    assert out.count("'X-Bypass-Token: '\"$X_BYPASS_TOKEN\"") >= 2, out
    assert outputs["markdown"] in outputs["step summary"]


class Answer:
    """What `RunLimits.send` reads of a response: its status and headers."""

    def __init__(self, status: int, retry_after: str | None = "0") -> None:
        self.status_code = status
        self.headers = {"retry-after": [retry_after]} if retry_after is not None else {}


class Sent:
    """A case of `POST /api/chat` carrying Alice's key, and every time it was sent."""

    def __init__(self, case_id: str, answers: list[Answer]) -> None:
        self.id, self.method, self.headers = case_id, "POST", {"x-api-key": ALICE}
        self.operation = SimpleNamespace(label="POST /api/chat",
                                         definition=SimpleNamespace(raw={"operationId": "postChat"}))
        self.answers = answers
        self.calls = 0

    def call(self) -> Any:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def test_each_send_of_a_request_that_could_start_a_run_needs_its_own_place() -> None:
    report = ContractReport(base_url="http://127.0.0.1:9", target="target", seed=1)
    limits = RunLimits(StreamCap(2, (ALICE,), report), wait_on_429=True)
    refused = Sent("a", [Answer(429)])
    assert limits.cap.admit(refused, "flows")  # type: ignore[arg-type]
    # Its place, then one more for the first re-send; the second re-send has none: the 429 stands.
    assert limits.send(refused, "flows", refused.call).status_code == 429  # type: ignore[arg-type]
    assert refused.calls == 2 and limits.cap.used == 2 and report.streams_skipped == {"flows": 1}
    # A send nothing admitted (a check's extra request) is not sent at all without room.
    extra = Sent("b", [Answer(200)])
    with pytest.raises(StreamCapReached):
        limits.send(extra, "phase:coverage", extra.call)  # type: ignore[arg-type]
    assert extra.calls == 0 and report.streams_sent == {"flows": 2}


def test_a_429_is_the_answer_without_a_rate_limit_or_past_the_deadline() -> None:
    report = ContractReport(base_url="http://127.0.0.1:9", target="target", seed=1)
    for limits in (RunLimits(StreamCap(None, (), report)),
                   RunLimits(StreamCap(None, (), report), wait_on_429=True, deadline=time.monotonic() + 5)):
        case = Sent("c", [Answer(429, retry_after="10"), Answer(200)])
        assert limits.send(case, "flows", case.call).status_code == 429  # type: ignore[arg-type]
        assert case.calls == 1
    waited = RunLimits(StreamCap(None, (), report), wait_on_429=True)
    case = Sent("d", [Answer(429, retry_after=None), Answer(429, retry_after="0"), Answer(200)])
    started = time.monotonic()
    assert waited.send(case, "flows", case.call).status_code == 200  # type: ignore[arg-type]
    assert case.calls == 3 and time.monotonic() - started >= 1.0  # no Retry-After: a second


def test_a_generated_framing_header_never_reaches_the_target() -> None:
    # Fuzzing once generated `transfer-encoding: ]`: uvicorn refused the bytes with a text/plain 400 before
    # the API could answer, and content_type_conformance failed on a server's HTTP parser, not on the API.
    from mockserver.contracts.limits import LimitedTransport

    sent: list[dict[str, str]] = []
    inner = SimpleNamespace(send=lambda case, **kwargs: sent.append(dict(case.headers)) or SimpleNamespace())
    limits = SimpleNamespace(send=lambda case, part, call: call())
    case = SimpleNamespace(headers={"Transfer-Encoding": "]", "content-length": "3", "Connection": "x",
                                    "x-api-key": "k", "a": "b"})
    LimitedTransport(inner, limits, lambda case: "phases").send(case)  # type: ignore[arg-type]
    assert sent == [{"x-api-key": "k", "a": "b"}]
