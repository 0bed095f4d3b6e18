"""The inspector page (``GET /__mock/``) in headless Chromium, while another client uses the mock.

``inspector_drive.mjs`` (playwright-core driving Debian's ``chromium``) holds the page and takes one step
at a time from this test, which meanwhile talks to the same live mock over httpx, as any other client
would: a ``slow`` stream it sends shows up in the journal and its chunks grow on the page without a
reload; Stop on the page cancels the run; "Use for next request" queues ``http-429`` for the next POST;
a world made by another client's request appears in the world selector. With an admin token the page
asks for it once; a refused edit under ``--watch`` shows in a banner. Every wait is for a condition in
the page, bounded by a timeout. The screenshot is kept in ``test-artifacts/inspector.png``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_support import ARTIFACTS, CLIENT_DIR, require_node_project
from support import ALICE, BOB, CHAT_IDLE, chat_body, chunks_of, live_server

from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC

pytestmark = pytest.mark.live

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = CLIENT_DIR / "inspector_drive.mjs"
SCREENSHOT = ARTIFACTS / "inspector.png"
ALICE_H = {"x-api-key": ALICE}
#: Seconds any one step in the page may take (a wait for a condition included).
STEP = 10.0


class Page:
    """The inspector in Chromium, one bounded step at a time (the ops of inspector_drive.mjs)."""

    def __init__(self, node: str) -> None:
        config = {"executablePath": str(CHROMIUM), "width": 1440, "height": 900}
        self.proc = subprocess.Popen([node, str(DRIVER), json.dumps(config)], cwd=CLIENT_DIR, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True).start()
        self.calls = 0
        assert self._answer(30.0).get("ready"), "the driver did not start"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.answers.put(json.loads(line))
        self.answers.put(None)

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"inspector_drive.mjs did not answer within {timeout} s")
        if answer is None:
            pytest.fail(f"inspector_drive.mjs exited {self.proc.wait(5)}:\n{''.join(self.stderr)[-4000:]}")
        return answer

    def step(self, op: str, timeout: float = STEP, **args: Any) -> Any:
        self.calls += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": self.calls, "op": op, "timeout": timeout * 1000, **args}) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(timeout + 10)
        assert answer["id"] == self.calls
        if not answer["ok"]:
            pytest.fail(f"{op} {json.dumps(args)[:600]}: {answer['error'][:3000]}")
        return answer["value"]

    def wait(self, fn: str, *arg: Any, timeout: float = STEP) -> Any:
        """The first truthy value of the page function ``fn`` (called with ``[*arg]``; polled every frame)."""
        return self.step("waitFor", timeout, fn=fn, arg=list(arg))

    def evaluate(self, fn: str, *arg: Any) -> Any:
        return self.step("evaluate", fn=fn, arg=list(arg))

    def click(self, selector: str) -> None:
        self.step("click", selector=selector)

    def open(self, url: str) -> None:
        """Load the inspector and wait until its event stream is open and its first load is drawn."""
        self.step("goto", url=url)
        self.wait_loaded()

    def wait_loaded(self) -> None:
        self.wait("() => document.body.dataset.events === 'open' && document.body.dataset.loaded === 'true'")

    def leave(self) -> dict[str, Any]:
        """What the page logged; then leave it, so that its event stream is closed before the mock stops."""
        log: dict[str, Any] = self.step("log")
        self.step("goto", url="about:blank")
        return log

    def blank(self) -> None:
        """A blank page and an empty log: where each test starts."""
        self.step("goto", url="about:blank")
        self.step("clearLog")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.step("close")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    """One Chromium for the module's tests (starting one takes seconds)."""
    node = require_node_project(CLIENT_DIR, "playwright-core")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make client-deps` installs Debian's chromium")
    shared = Page(node)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def page(browser: Page) -> Page:
    """The module's browser on a blank page with an empty log. Nothing else carries over from a previous
    test: each test's mock is a new server on a new port, so its page is another origin, with its own
    sessionStorage (the admin token, the world) and cache."""
    browser.blank()
    return browser


class Stream:
    """A POST /api/chat stream read to its end on a thread: another client of the mock."""

    def __init__(self, base_url: str, text: str, headers: dict[str, str]) -> None:
        self.run_id: queue.Queue[str] = queue.Queue()
        self.body = b""
        self.status = 0
        self.thread = threading.Thread(target=self._read, args=(base_url, text, headers), daemon=True)
        self.thread.start()

    def _read(self, base_url: str, text: str, headers: dict[str, str]) -> None:
        with httpx.stream("POST", base_url + "/api/chat", json=chat_body(text=text), headers=headers,
                          timeout=15) as response:
            self.status = response.status_code
            self.run_id.put(response.headers.get("x-workflow-run-id", ""))
            self.body = response.read()

    def started(self) -> str:
        return self.run_id.get(timeout=STEP)

    def ended(self) -> bytes:
        self.thread.join(timeout=STEP)
        assert not self.thread.is_alive(), "the stream did not end"
        return self.body


# What the test reads in the page (page functions, called with an array of arguments).

#: The journal's rows, newest first.
JOURNAL = """() => [...document.querySelectorAll('#journal-rows tr')].map((tr) => ({
  seq: Number(tr.dataset.seq), done: tr.dataset.done === 'true', status: tr.querySelector('.st').textContent,
  method: tr.querySelector('.method').textContent, path: tr.querySelector('.path').textContent,
  scenario: tr.querySelector('.scenario').textContent, runId: tr.querySelector('.run').title }))"""
#: The seq of run ``runId``'s journal row once it shows (and is done or not, unless ``done`` is null).
ROW_OF_RUN = """([runId, done]) => {
  const tr = [...document.querySelectorAll('#journal-rows td.run')].find((c) => c.title === runId)?.closest('tr');
  return tr && (done === null || tr.dataset.done === String(done)) ? Number(tr.dataset.seq) : null;
}"""
#: Run ``runId``'s row in the runs table.
RUN_ROW = """([runId]) => {
  const tr = document.querySelector(`#run-rows tr[data-run-id="${runId}"]`);
  const number = (cls) => Number(tr.querySelector(cls).textContent);
  return tr && { status: tr.dataset.status, live: tr.dataset.live === 'true', chunks: number('.chunks'),
                 readers: number('.readers'), stop: !tr.querySelector('button.stop').disabled };
}"""
#: The run's chunk count in the runs table, once it is above ``above``.
RUN_CHUNKS_ABOVE = f"""([runId, above]) => {{
  const row = ({RUN_ROW})([runId]);
  return row && row.chunks > above ? row.chunks : null;
}}"""
#: How many chunks the chunk list of run ``runId`` under ``pane`` shows, once above ``above``.
LISTED_ABOVE = """([pane, runId, above]) => {
  const n = document.querySelectorAll(`${pane} .chunk-list[data-run-id="${runId}"] ol.chunks li`).length;
  return n > above ? n : null;
}"""
#: The chunks that list shows: [index, "+N ms", type].
LISTED = """([pane, runId]) => [...document.querySelectorAll(`${pane} .chunk-list[data-run-id="${runId}"] li`)]
  .map((li) => [Number(li.querySelector('.idx').textContent), li.querySelector('.at').textContent,
                li.querySelector('.type').textContent])"""
#: The request detail pane: its text, its header tables and the status it shows.
DETAIL = """() => {
  const pairs = (section) => [...document.querySelectorAll(`#detail-body details[data-section="${section}"] tr`)]
    .map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]);
  return { text: document.querySelector('#detail-body').textContent, status: document.querySelector('.detail-head .st')
           .textContent, requestHeaders: pairs('req-headers'), responseHeaders: pairs('res-headers') };
}"""
SCENARIOS = """() => [...document.querySelectorAll('#scenario-rows tr')]
  .map((tr) => [tr.dataset.scenario, tr.querySelector('.description').textContent])"""
QUEUE = "() => [...document.querySelectorAll('#queue .chip')].map((c) => c.textContent)"
#: The journal's rows once the filters are in effect (the count says "N of M").
#: The journal's rows once the filter ``name`` = ``value`` is drawn: some rows, every one of them matching
#: (a check of the rows themselves: the count alone could still be the previous filter's).
FILTERED = f"""([name, value]) => {{
  const rows = ({JOURNAL})();
  const matches = (row) => name === 'status' ? row.status.startsWith(value[0])
    : name === 'scenario' ? row.scenario === value : row.path.includes(value);
  const filtered = document.querySelector('#journal-count').textContent.includes(' of ');
  return rows.length && filtered && rows.every(matches) ? rows : null;
}}"""
#: True once no filter is drawn any more (the count no longer says "N of M").
UNFILTERED = "() => !document.querySelector('#journal-count').textContent.includes(' of ')"
#: The text of the element ``selector`` once it is shown.
SHOWN_TEXT = "([selector]) => { const el = document.querySelector(selector); return !el.hidden && el.textContent; }"


def run_row_when(condition: str) -> str:
    """A page function: run ``runId``'s row (see RUN_ROW) once ``condition`` (on ``row``) holds."""
    return f"([runId]) => {{ const row = ({RUN_ROW})([runId]); return row && ({condition}) && row; }}"


def growing(page: Page, fn: str, *arg: Any, times: int = 3) -> list[int]:
    """``times`` increasing values of ``fn`` (called with ``[*arg, above]``), each awaited in the page."""
    seen = [0]
    for _ in range(times):
        seen.append(page.wait(fn, *arg, seen[-1]))
    return seen[1:]


def final_chunks(base_url: str, run_id: str) -> list[dict[str, Any]]:
    run = httpx.get(f"{base_url}/__mock/runs/{run_id}").json()
    assert run["live"] is False
    return [c["chunk"] for c in run["chunkLog"]]


def test_the_inspector_shows_another_clients_stream_live_stops_it_queues_a_scenario_and_lists_worlds(
        page: Page) -> None:
    with live_server(speed=1.0) as mock:
        url = mock.base_url
        page.open(url + "/__mock/")
        page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
        scenarios = dict(page.evaluate(SCENARIOS))
        queue_at_first = page.evaluate(QUEUE)

        # 1. Another client streams `slow`: its journal row appears, then the run, and its chunks grow.
        slow = Stream(url, "Count to forty-eight", {**ALICE_H, "prefer": "scenario=slow"})
        run_id = slow.started()
        seq = page.wait(ROW_OF_RUN, run_id, None)
        counts = growing(page, RUN_CHUNKS_ABOVE, run_id)
        page.click(f'#run-rows tr[data-run-id="{run_id}"] td.scenario')
        listed = growing(page, LISTED_ABOVE, "#run-chunks", run_id, times=2)
        row = page.wait(run_row_when("row.readers === 1"), run_id)

        # 2. Stop on the page: the run ends cancelled, for the client, the API and the page.
        page.click(f'#run-rows tr[data-run-id="{run_id}"] button.stop')
        stopped = page.wait(run_row_when("row.status === 'cancelled'"), run_id)
        body = slow.ended()
        status = httpx.get(f"{url}/api/chat/runs/{run_id}", headers=ALICE_H).json()
        produced = final_chunks(url, run_id)
        done_seq = page.wait(ROW_OF_RUN, run_id, True)
        page.wait(LISTED_ABOVE, "#run-chunks", run_id, len(produced) - 1)
        run_listed = page.evaluate(LISTED, "#run-chunks", run_id)

        # 3. The request's detail: masked headers, the body, the response, the stream's chunks with times.
        page.click(f'#journal-rows tr[data-seq="{seq}"] td.path')
        page.wait("([seq]) => document.querySelector(`#detail-body .detail-head[data-seq='${seq}']`)", seq)
        page.wait(LISTED_ABOVE, "#detail-body", run_id, len(produced) - 1)
        detail = page.evaluate(DETAIL)
        detail_listed = page.evaluate(LISTED, "#detail-body", run_id)

        # 4. "Use for next request" on http-429: queued on the server, used by the next POST, then gone.
        page.click('#scenario-rows tr[data-scenario="http-429"] button.use-next')
        queued_on_page = page.wait(f"() => {{ const q = ({QUEUE})(); return q.length && q; }}")
        queued_on_server = httpx.get(url + "/__mock/scenarios/next").json()
        limited = httpx.post(url + "/api/chat", json=chat_body(), headers=ALICE_H, timeout=10)
        page.wait(f"() => ({JOURNAL})().some((r) => r.status === '429' && r.scenario === 'http-429')")
        page.wait(f"() => ({QUEUE})().length === 0")

        # 5. The journal's filters: status by class, scenario, path.
        filtered = {}
        for name, value, how in (("status", "4xx", "fill"), ("scenario", "slow", "select"), ("path", "/runs/", "fill")):
            page.step(how, selector=f"#filters [name={name}]", value=value)
            filtered[name] = page.wait(FILTERED, name, value)
            page.step(how, selector=f"#filters [name={name}]", value="")
            page.wait(UNFILTERED)
        page.wait(f"() => ({JOURNAL})().length === 3")

        # 6. A second `slow` stream, opened from its journal row: the detail's chunk list grows live, while
        # other clients come and go (a second POST on the streaming chat, Bob on Alice's chat).
        second = Stream(url, "And once more, slowly", {**ALICE_H, "prefer": "scenario=slow"})
        second_run = second.started()
        second_seq = page.wait(ROW_OF_RUN, second_run, None)
        page.click(f'#journal-rows tr[data-seq="{second_seq}"] td.path')
        detail_growth = growing(page, LISTED_ABOVE, "#detail-body", second_run, times=2)
        busy = httpx.post(url + "/api/chat", json=chat_body(), headers=ALICE_H, timeout=10)
        foreign = httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": BOB}, timeout=10)
        page.wait(f"() => ['409', '403'].every((s) => ({JOURNAL})().some((r) => r.status === s && r.done))")
        followed = page.wait("([runId]) => !!document.querySelector(`#run-chunks .chunk-list[data-run-id='${runId}']`)",
                             second_run)  # the runs pane follows a new run
        second_body = second.ended()
        second_chunks = final_chunks(url, second_run)
        page.wait(ROW_OF_RUN, second_run, True)
        page.wait(LISTED_ABOVE, "#detail-body", second_run, len(second_chunks) - 1)
        page.wait(run_row_when("row.status === 'completed' && row.readers === 0"), second_run)
        page.evaluate("() => { const notice = document.querySelector('#notice'); if (!notice.hidden) notice.click(); }")
        ARTIFACTS.mkdir(exist_ok=True)
        SCREENSHOT.unlink(missing_ok=True)
        page.step("screenshot", path=str(SCREENSHOT))

        # 7. A world another client's request made appears in the selector; chosen, it shows its own journal.
        resumed = httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers={**ALICE_H, "x-mock-world": "qa-inspector"})
        page.wait("() => !!document.querySelector('#world option[value=\"qa-inspector\"]')")
        page.step("select", selector="#world", value="qa-inspector")
        page.wait_loaded()
        world_journal = page.wait(f"() => {{ const rows = ({JOURNAL})(); return rows.length && rows; }}")
        world_runs = page.evaluate("() => [...document.querySelectorAll('#run-rows tr')].map((tr) => tr.dataset.runId)")
        # Reset on the page resets that world only.
        loads = page.evaluate("() => Number(document.body.dataset.loads)")
        page.click("#reset")
        page.wait(f"([loads]) => ({JOURNAL})().length === 0 && Number(document.body.dataset.loads) > loads", loads)
        world_after_reset = httpx.get(url + "/__mock/requests", headers={"x-mock-world": "qa-inspector"}).json()
        default_after_reset = httpx.get(url + "/__mock/requests").json()
        same_document = page.evaluate("() => window.sameDocument === true")
        log = page.leave()

    assert {"slow", "http-429", "default"} <= scenarios.keys() and all(scenarios.values())
    assert queue_at_first == []
    # 1. Three increasing chunk counts in the runs table, two in the run's chunk list, one reader.
    assert counts == sorted(set(counts)) and len(counts) == 3, counts
    assert listed == sorted(set(listed)) and len(listed) == 2, listed
    assert row["live"] and row["stop"] and row["status"] == "running", row
    # 2. Cancelled before the 48 text deltas were out; the page lists every chunk the run produced.
    assert stopped["live"] is False and not stopped["stop"], stopped
    assert status["status"] == "cancelled", status
    assert slow.status == 200 and body.endswith(b"data: [DONE]\n\n")
    assert chunks_of(body) == produced and len(produced) < 48
    assert done_seq == seq
    assert [i for i, _, _ in run_listed] == list(range(len(produced)))
    assert [t for _, _, t in run_listed] == [c["type"] for c in produced]
    assert all(at.startswith("+") and at.endswith(" ms") for _, at, _ in run_listed)
    # 3.
    assert detail["status"] == "200"
    headers = dict(detail["requestHeaders"])
    assert headers["x-api-key"] == "recoup_sk_…lice" and headers["prefer"] == "scenario=slow"
    assert ALICE not in detail["text"]
    assert "Count to forty-eight" in detail["text"]  # the request body
    assert dict(detail["responseHeaders"])["content-type"] == "text/event-stream"
    assert detail_listed == run_listed
    # 4. and 5.
    assert queued_on_page == ["http-429"] and queued_on_server == {"queued": ["http-429"]}
    assert limited.status_code == 429
    assert {r["status"] for r in filtered["status"]} == {"429"}
    assert [r["seq"] for r in filtered["scenario"]] == [seq]
    assert [r["path"] for r in filtered["path"]] == [f"/api/chat/runs/{run_id}"]
    # 6.
    assert detail_growth == sorted(set(detail_growth)) and detail_growth[-1] < len(second_chunks), detail_growth
    assert (busy.status_code, foreign.status_code) == (409, 403)
    assert followed is True
    assert second.status == 200 and chunks_of(second_body) == second_chunks and second_chunks[-1]["type"] == "finish"
    # 7.
    assert resumed.status_code == 204
    assert [(r["method"], r["path"], r["status"]) for r in world_journal] == [("GET", f"/api/chat/{CHAT_IDLE}/stream",
                                                                               "204")]
    assert run_id not in world_runs and second_run not in world_runs
    assert world_after_reset == {"requests": [], "evicted": 0} and len(default_after_reset["requests"]) == 6
    # All of it in one document, without errors.
    assert same_document, "the page was reloaded"
    assert len(log["navigations"]) == 1, log["navigations"]
    assert log["pageErrors"] == [] and log["consoleErrors"] == [], log
    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_with_an_admin_token_the_page_asks_for_it_once_then_works(page: Page) -> None:
    with live_server(speed=0, admin_token="s3cret") as mock:
        url = mock.base_url
        page.step("goto", url=url + "/__mock/")
        page.wait("() => !document.querySelector('#token').hidden && document.body.dataset.events === 'locked'")
        page.step("fill", selector="#token-input", value="s3cret")
        page.click("#token-form button[type=submit]")
        page.wait_loaded()
        httpx.post(url + "/api/chat", json=chat_body(), headers=ALICE_H, timeout=10).raise_for_status()
        page.wait(f"() => ({JOURNAL})().some((r) => r.done && r.status === '200')")
        asked = page.evaluate("() => document.body.dataset.tokenPrompts")
        # A reload in the same tab keeps the token: no second question.
        page.step("reload")
        page.wait_loaded()
        rows_after_reload = len(page.evaluate(JOURNAL))
        asked_after_reload = page.evaluate("() => document.body.dataset.tokenPrompts ?? null")
        # A wrong token kept in the tab is refused: asked again, saying so.
        page.evaluate("() => sessionStorage.setItem('recoup-mock.admin-token', 'wrong')")
        page.step("reload")
        refused = page.wait(SHOWN_TEXT, "#token-error")
        page.step("fill", selector="#token-input", value="s3cret")
        page.click("#token-form button[type=submit]")
        page.wait_loaded()
        log = page.leave()
    assert asked == "1"
    assert rows_after_reload == 1 and asked_after_reload is None
    assert "refused" in refused
    assert log["pageErrors"] == []
    assert all("401" in e for e in log["consoleErrors"]), log["consoleErrors"]  # the browser's line per 401


def test_a_refused_edit_shows_in_a_banner_until_it_is_fixed(page: Page, tmp_path: Path) -> None:
    fixtures, spec_dir = tmp_path / "fixtures", tmp_path / "openapi"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    shutil.copytree(DEFAULT_SPEC.parent, spec_dir)
    scenario = fixtures / "scenarios" / "default.yaml"
    good = scenario.read_text()
    with live_server(speed=0, watch=True, fixtures=fixtures, spec=spec_dir / "chat.yaml",
                     admin_spec=spec_dir / "admin.yaml") as mock:
        page.open(mock.base_url + "/__mock/")
        hidden_at_first = page.evaluate("() => document.querySelector('#reload-error').hidden")
        scenario.write_text(good + "\nsteps: [\n")
        banner = page.wait(SHOWN_TEXT, "#reload-error")
        scenario.write_text(good)
        page.wait("() => document.querySelector('#reload-error').hidden")
        log = page.leave()
    assert hidden_at_first is True
    assert "default.yaml" in banner, banner
    assert log["pageErrors"] == [] and log["consoleErrors"] == [], log


#: The journal rows that say seeded chaos chose their scenario: seq and scenario name.
CHAOS_ROWS = """() => [...document.querySelectorAll('#journal-rows tr[data-chaos="true"]')].map((tr) => ({
  seq: Number(tr.dataset.seq), scenario: tr.querySelector('.scenario span').textContent,
  badge: tr.querySelector('.scenario .chaos')?.textContent ?? null, title: tr.querySelector('.scenario').title }))"""


def test_chaos_picks_and_queued_scenarios_taken_show_as_they_happen(page: Page) -> None:
    with live_server(speed=0, seed=2, chaos=1.0) as mock:
        url = mock.base_url
        page.step("goto", url=url + "/__mock/")
        page.wait_loaded()
        httpx.post(url + "/__mock/scenarios/next", json={"name": "reasoning"}).raise_for_status()
        httpx.post(url + "/api/chat", json=chat_body(), headers=ALICE_H, timeout=10)
        took = page.wait("([s]) => { const t = (" + SHOWN_TEXT + ")([s]); return t && t.includes('queued') && t; }",
                         "#notice")
        picked = httpx.post(url + "/api/chat", json=chat_body(), headers=ALICE_H, timeout=10)
        said = page.wait("([s]) => { const t = (" + SHOWN_TEXT + ")([s]); return t && t.includes('Chaos') && t; }",
                         "#notice")
        rows = page.wait(f"() => {{ const r = ({CHAOS_ROWS})(); return r.length === 1 && r; }}")
        plain = page.evaluate(JOURNAL)
        log = page.leave()
        entries = httpx.get(url + "/__mock/requests").json()["requests"]
    chaotic = [e for e in entries if e["chaos"]]
    assert len(chaotic) == 1 and chaotic[0]["path"] == "/api/chat" and picked.status_code in {200, 429, 500, 502, 503}
    name = chaotic[0]["scenario"]
    assert "took the queued scenario reasoning" in took and f"gets {name}" in said
    assert rows == [{"seq": chaotic[0]["seq"], "scenario": name, "badge": "chaos",
                     "title": f"Seeded chaos served {name}; replay it with Prefer: scenario={name}"}]
    assert [r["scenario"] for r in plain if r["seq"] != chaotic[0]["seq"] and r["path"] == "/api/chat"] == ["reasoning"]
    assert log["pageErrors"] == []
