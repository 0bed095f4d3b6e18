"""The pytest plugin (entry point ``pytest11``: ``recoup_mock``), tested as a user's suite would use it.

Each test writes a foreign test directory with pytester and runs pytest on it in a subprocess, so the
plugin is found through its installed entry point, with nothing else configured: no conftest of ours,
no ``-p`` that loads it, no ini file. Two plugins of this checkout's test tools are kept out of those runs
(`run_foreign`); a user's suite beside every plugin the ``[contract]`` extra brings is
tests/packaging/test_installed_wheel.py::test_a_user_suite_gets_the_recoup_mock_fixture.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import httpx
import pytest

pytest_plugins = ["pytester"]

FOREIGN_SUITE = '''
import threading

import httpx
import httpx
import pytest

SEEN_URLS = []


def test_the_server_starts_only_when_a_test_asks_for_it():
    assert not any(t.name == "recoup-mock" for t in threading.enumerate())


def test_resume_of_the_idle_chat_is_204(recoup_mock):
    SEEN_URLS.append(recoup_mock.base_url)
    r = httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_IDLE}/stream"), headers=recoup_mock.headers())
    assert r.status_code == 204


def test_post_to_the_busy_chat_is_409(recoup_mock):
    SEEN_URLS.append(recoup_mock.base_url)
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(scheme="bearer"),
                   json=recoup_mock.chat_body(chat=recoup_mock.CHAT_BUSY))
    assert r.status_code == 409
    assert "already streaming" in r.json()["message"]


def test_a_scenario_picked_for_the_next_request(recoup_mock):
    SEEN_URLS.append(recoup_mock.base_url)
    assert recoup_mock.next_scenario("http-429") == ["http-429"]
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    # Used once: the next request streams the chat's default.
    with httpx.stream("POST", recoup_mock.url("/api/chat"), headers=recoup_mock.headers(),
                      json=recoup_mock.chat_body()) as stream:
        assert stream.status_code == 200
        body = stream.read().decode()
    assert body.endswith("data: [DONE]\\n\\n")
    assert [e["status"] for e in recoup_mock.requests(path="/api/chat", method="POST")] == [429, 200]
    assert recoup_mock.requests(scenario="http-429")[0]["status"] == 429


def test_queued_scenarios_run_in_order(recoup_mock):
    recoup_mock.next_scenario("tool-call")
    assert recoup_mock.next_scenario("http-500", count=2) == ["tool-call", "http-500", "http-500"]
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert '"type":"tool-output-available"' in r.text
    assert httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(),
                      json=recoup_mock.chat_body()).status_code == 500


def test_each_test_starts_from_a_reset_mock(recoup_mock):
    SEEN_URLS.append(recoup_mock.base_url)
    assert recoup_mock.requests() == []
    # The queue left over by the test before is gone too.
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert r.status_code == 200
    assert '"type":"text-delta"' in r.text


def test_one_server_for_the_session(recoup_mock):
    assert set(SEEN_URLS) == {recoup_mock.base_url}
    assert recoup_mock.base_url.startswith("http://127.0.0.1:")
    assert recoup_mock.scenarios()


def test_the_journal_filters(recoup_mock):
    httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_BOB}/stream"), headers=recoup_mock.headers())
    httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_BOB}/stream"), headers=recoup_mock.headers(recoup_mock.BOB))
    assert [e["status"] for e in recoup_mock.requests(method="GET")] == [403, 204]
    assert len(recoup_mock.requests(status=403)) == 1
    assert len(recoup_mock.requests(limit=1)) == 1


def test_admin_errors_name_the_call(recoup_mock):
    with pytest.raises(RuntimeError, match=r"scenarios/next answered 400: .*Unknown scenario 'nope'"):
        recoup_mock.next_scenario("nope")
'''


#: Plugins this venv has for the checkout's own tests (Schemathesis' and Hypothesis'), not for a user's suite:
#: importing them is most of a foreign pytest's start-up (about 2.5 of 3 s), paid once per foreign run and per
#: xdist worker. Every other installed plugin (xdist, anyio, and recoup_mock itself) still loads by entry point.
NOT_THE_USERS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")


def run_foreign(pytester: pytest.Pytester, *args: str, every_plugin: bool = False) -> pytest.RunResult:
    """pytest on the foreign directory, in a subprocess; ``every_plugin`` loads `NOT_THE_USERS` too."""
    # -p no:cacheprovider: leave nothing behind; -W error: the plugin must not warn.
    lean = () if every_plugin else NOT_THE_USERS
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *lean, "-W", "error", "-q", *args, timeout=120)


def test_the_entry_point_is_installed() -> None:
    [entry] = [e for e in entry_points(group="pytest11") if e.name == "recoup_mock"]
    assert entry.value == "mockserver.pytest_plugin"


def test_a_foreign_suite_with_only_recoup_mock_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_foreign=FOREIGN_SUITE)
    result = run_foreign(pytester)
    result.assert_outcomes(passed=9)


SETTINGS_SUITE = '''
import random
import time

import httpx

from mockserver.streams.engine import schedule
from mockserver.streams.scenarios import load_scenarios
from mockserver.settings import DEFAULT_FIXTURES


def test_settings(recoup_mock, recoup_mock_server):
    assert recoup_mock_server.settings.speed == {speed}
    assert recoup_mock_server.settings.access_log is False
    slow = load_scenarios(DEFAULT_FIXTURES / "scenarios")["slow"]
    assert slow.timing.jitter_ms == 0  # so its schedule does not depend on the run's seeded generator
    scripted = schedule(slow, random.Random(0), {speed})[-1]
    with httpx.stream("POST", recoup_mock.url("/api/chat"), headers=recoup_mock.headers(scenario="slow"),
                      json=recoup_mock.chat_body()) as r:
        assert r.status_code == 200
        arrivals = [time.monotonic() for _ in r.iter_raw()]
    # The start chunk goes out at once, the last chunk when the schedule at speed {speed} has it due.
    played = arrivals[-1] - arrivals[0]
    assert 0.75 * scripted <= played <= 1.6 * scripted, (played, scripted)
'''


def test_settings_come_from_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_MOCK_SPEED", "0.25")
    monkeypatch.setenv("RECOUP_MOCK_PORT", "1")  # the CLI's port is not the test server's
    pytester.makepyfile(test_settings=SETTINGS_SUITE.format(speed=0.25))
    run_foreign(pytester).assert_outcomes(passed=1)


def test_recoup_mock_settings_overrides_the_environment(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_MOCK_SPEED", "3")
    pytester.makeconftest('''
import httpx
import pytest

@pytest.fixture(scope="session")
def recoup_mock_settings():
    return {"speed": 0.25, "admin_token": "s3cret"}
''')
    pytester.makepyfile(test_settings=SETTINGS_SUITE.format(speed=0.25) + '''

def test_the_admin_token_is_sent(recoup_mock):
    assert recoup_mock.admin_token == "s3cret"
    assert recoup_mock.next_scenario("slow") == ["slow"]
    assert httpx.post(recoup_mock.url("/__mock/reset")).status_code == 401
''')
    run_foreign(pytester).assert_outcomes(passed=2)


def test_importing_the_plugin_imports_no_server() -> None:
    """pytest imports the plugin in every session: it adds only the standard library and pytest.

    (``mockserver/__init__.py`` itself imports the app; the plugin adds nothing on top of that and pytest.)
    """
    code = textwrap.dedent('''
        import sys
        import mockserver
        import pytest
        before = set(sys.modules)
        import mockserver.pytest_plugin
        added = sorted(m.split(".")[0] for m in set(sys.modules) - before)
        print(" ".join(sorted(set(added))))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "uvicorn" not in out
    assert set(out) - set(sys.stdlib_module_names) - {"mockserver"} == set()


WORLDS_SUITE = '''
import re
import urllib.request

import httpx
import httpx
import pytest

from mockserver.pytest_plugin import world_name

WORLDS = {}


def default_journal(recoup_mock):
    """The default world's journal, read with no world header."""
    with urllib.request.urlopen(recoup_mock.url("/__mock/requests")) as response:
        import json
        return json.loads(response.read())["requests"]


def test_a_test_queues_a_scenario_it_never_uses(recoup_mock):
    WORLDS["first"] = recoup_mock.world
    assert recoup_mock.next_scenario("http-500") == ["http-500"]


def test_the_next_test_is_in_a_world_of_its_own(recoup_mock):
    WORLDS["second"] = recoup_mock.world
    assert WORLDS["first"] != WORLDS["second"]
    for name in WORLDS.values():
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name)
    assert recoup_mock.world == world_name("test_worlds.py::test_the_next_test_is_in_a_world_of_its_own")
    assert recoup_mock.headers()["x-mock-world"] == recoup_mock.world
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert r.status_code == 200  # the first test's queued http-500 is in its own world
    assert [e["status"] for e in recoup_mock.requests()] == [200]
    assert default_journal(recoup_mock) == []


@pytest.mark.parametrize("n", range(2))
def test_parametrized_tests_get_their_own_worlds_too(recoup_mock, n):
    WORLDS[f"param{n}"] = recoup_mock.world
    assert len(set(WORLDS.values())) == len(WORLDS)


@pytest.mark.recoup_mock_world(None)
def test_a_test_can_use_the_default_world(recoup_mock):
    assert recoup_mock.world is None and "x-mock-world" not in recoup_mock.headers()
    httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_IDLE}/stream"), headers=recoup_mock.headers())
    assert [e["status"] for e in default_journal(recoup_mock)] == [204]


@pytest.mark.recoup_mock_world("shared-by-name")
def test_or_a_named_one(recoup_mock):
    assert recoup_mock.world == "shared-by-name" and recoup_mock.requests() == []


def test_a_test_can_answer_as_the_deployed_server(recoup_mock):
    assert recoup_mock.use_profile("deployed")["profile"] == "deployed"
    busy = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(),
                      json=recoup_mock.chat_body(chat=recoup_mock.CHAT_BUSY))
    assert busy.status_code == 200  # the deployed POST replays the live run
    gone = httpx.get(recoup_mock.url("/api/chat/runs/nope"), headers=recoup_mock.headers())
    assert gone.json() == {"status": "error", "error": "Run not found"}  # the server's own words


def test_the_next_test_is_documented_again(recoup_mock):
    busy = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(),
                      json=recoup_mock.chat_body(chat=recoup_mock.CHAT_BUSY))
    assert busy.status_code == 409
'''


def test_every_test_gets_its_own_world(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_worlds=WORLDS_SUITE)
    run_foreign(pytester).assert_outcomes(passed=8)


XDIST_SUITE = '''
import os

import httpx
import httpx
import pytest


@pytest.mark.parametrize("n", range(8))
def test_stream_on_the_idle_chat(recoup_mock, n):
    assert recoup_mock.base_url == os.environ["RECOUP_MOCK_URL"]  # the shared server, none of our own
    # Every test streams on the same chat at once, each in its own world: no 409, no stranger's run.
    with httpx.stream("POST", recoup_mock.url("/api/chat"), headers=recoup_mock.headers(scenario="slow"),
                      json=recoup_mock.chat_body(f"worker {n}"), timeout=30) as r:
        assert r.status_code == 200, r.read()
        body = r.read().decode()
    assert body.endswith("data: [DONE]\\n\\n")
    [entry] = recoup_mock.requests(path="/api/chat")
    assert entry["status"] == 200 and entry["runId"] == r.headers["x-workflow-run-id"]
'''


def test_xdist_workers_share_one_server_through_recoup_mock_url(pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from support import ServerProcess

    server = ServerProcess("--speed", "0.5")  # `slow` takes about 1.2 s: the workers' streams overlap
    try:
        monkeypatch.setenv("RECOUP_MOCK_URL", server.base_url)
        pytester.makepyfile(test_xdist=XDIST_SUITE)
        run_foreign(pytester, "-n", "2").assert_outcomes(passed=8)
        worlds = httpx.get(server.base_url + "/__mock/worlds").json()["worlds"]
    finally:
        server.stop()
    assert len([w for w in worlds if w["name"].startswith("test_stream_on_the_idle_chat")]) == 8
    # Each of the 8 tests made one POST in its own world, and the default world saw none of them.
    assert {w["name"]: w["requests"] for w in worlds}["default"] == 0


PROFILE_SUITE = '''
import httpx
import pytest


def busy_post(recoup_mock):
    return httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(),
                      json=recoup_mock.chat_body(chat=recoup_mock.CHAT_BUSY))


@pytest.mark.recoup_mock_world({world!r})
def test_one_test_answers_as_the_deployed_server(recoup_mock):
    assert recoup_mock.use_profile("deployed")["profile"] == "deployed"
    assert busy_post(recoup_mock).status_code == 200  # the deployed POST replays the live run
    recoup_mock.reset()  # within the test, a reset keeps the test's profile
    assert busy_post(recoup_mock).status_code == 200


@pytest.mark.recoup_mock_world({world!r})
def test_the_next_test_in_the_same_world_starts_in_the_servers_profile(recoup_mock):
    assert busy_post(recoup_mock).status_code == 409
    status = httpx.get(recoup_mock.url("/__mock/status"), headers=recoup_mock.world_headers()).json()
    assert status["profile"] == "documented"
'''


@pytest.mark.parametrize("world", [None, "shared-by-name"], ids=["default-world", "named-world"])
def test_a_profile_chosen_in_one_test_does_not_leak_into_the_next(pytester: pytest.Pytester, world: str | None) -> None:
    pytester.makepyfile(test_profiles=PROFILE_SUITE.format(world=world))
    run_foreign(pytester).assert_outcomes(passed=2)
