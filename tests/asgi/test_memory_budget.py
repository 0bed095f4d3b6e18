"""One memory budget for the process (`--memory-budget`): what goes when it is full, in which order, what never
goes, and how what went is answered. In-process, with budgets of a fraction of a megabyte."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import SCHEMES, assert_error, assert_json, chat_body

from mockserver import Settings, create_app
from mockserver.state import worlds as worlds_module
from mockserver.state.budget import WORLD_COST, entry_cost, message_cost, run_cost
from mockserver.state.fixture_ids import ALICE, BOB, CHAT_IDLE, PINNED_RUN, UNKNOWN_RUN
from mockserver.state.store import EPOCH_MS, text_length

#: 100 KB: the default world and one more (16 KB each) and about a dozen headless runs with their requests.
SMALL_MB = 0.1


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(value: int) -> str:
    """The ``wrun_`` id that spells ``value`` (its top 48 bits are the world's clock, in ms)."""
    return "wrun_" + "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def alice(world: str | None = None, **extra: str) -> dict[str, str]:
    return {**SCHEMES["x-api-key"](ALICE), **({"x-mock-world": world} if world else {}), **extra}


def start(client: TestClient, world: str | None = None, **extra: str) -> str:
    accepted = assert_json(client.post("/api/chat/runs", json={"prompt": "Draft a tweet"},
                                       headers=alice(world, **extra)), 202)
    return str(accepted["runId"])


def budget_status(client: TestClient) -> dict[str, Any]:
    return dict(assert_json(client.get("/__mock/status"))["memoryBudget"])


def worlds_by_name(client: TestClient) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in assert_json(client.get("/__mock/worlds"))["worlds"]}


def recount(client: TestClient) -> int:
    """The budget's estimate worked out again from everything kept now: the running sum must not drift."""
    worlds = client.app.state.mock.worlds  # type: ignore[attr-defined]
    total = 0
    for world in worlds:
        finished = [r for r in world.runs.runs.values() if r.closed and not r.pinned]
        total += WORLD_COST + sum(run_cost(r) for r in finished)
        total += sum(entry_cost(e.path, e.request_body) for e in world.journal.entries)
        log = world.store.message_log
        total += sum(message_cost(text_length(row.content), 0) if row.role == "user" else cost
                     for row, _, cost in log) if log is not None else 0
    return total


@pytest.fixture
def small() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(speed=0, access_log=False, memory_budget_mb=SMALL_MB))) as client:
        yield client


def test_an_evicted_run_is_a_404_that_says_it_was_evicted_why_and_how_to_keep_it(small: TestClient) -> None:
    ids = [start(small, "a") for _ in range(40)]
    assert assert_json(small.get(f"/api/chat/runs/{ids[-1]}", headers=alice("a")))["status"] == "completed"
    message = assert_error(small.get(f"/api/chat/runs/{ids[0]}", headers=alice("a")), 404)
    assert message.startswith(f"Run not found: {ids[0]}: evicted for the memory budget"), message
    assert "memory budget of 0.1 MB" in message and "--memory-budget" in message, message
    assert "RECOUP_MOCK_MEMORY_BUDGET" in message, message
    counts = budget_status(small)
    assert counts["evicted"]["runs"] >= 28 and counts["usedBytes"] <= counts["limitBytes"] == round(0.1 * 1024 ** 2)
    assert worlds_by_name(small)["a"]["runsEvicted"] == counts["evicted"]["runs"]
    assert counts["usedBytes"] == recount(small)
    # Oldest first, runs and journal entries alike: what is kept is the newest of each.
    listed = {r["runId"] for r in assert_json(small.get("/__mock/runs", headers={"x-mock-world": "a"}))["runs"]}
    kept = [run_id for run_id in ids if run_id in listed]  # (admin calls are not journaled: no pressure)
    assert kept and kept == ids[len(ids) - len(kept):], kept
    journal = assert_json(small.get("/__mock/requests", headers={"x-mock-world": "a"}))
    assert journal["requests"] and journal["evicted"] > 0


def test_a_run_that_never_existed_is_told_apart_from_an_evicted_one(small: TestClient) -> None:
    for _ in range(40):
        start(small, "a")
    # Ids the world's clock never reached, or that are no run id at all: the plain 404, as before.
    late = ulid((EPOCH_MS + 10**9) << 80)
    for never in (UNKNOWN_RUN, late, "wrun_" + "Z" * 26):
        response = small.get(f"/api/chat/runs/{never}", headers=alice("a"))
        assert assert_error(response, 404) == f"Run not found: {never}", never
    # In a world whose budget evicted nothing, even an old id is only not found.
    assert assert_error(small.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice("b")), 404) == \
        f"Run not found: {UNKNOWN_RUN}"


def test_another_accounts_run_is_still_only_not_found(small: TestClient) -> None:
    run_id = start(small, "a")
    message = assert_error(small.get(f"/api/chat/runs/{run_id}", headers={**SCHEMES["x-api-key"](BOB),
                                                                          "x-mock-world": "a"}), 404)
    assert message == f"Run not found: {run_id}"


def test_the_deployed_profile_says_eviction_in_its_terse_error_style_too() -> None:
    settings = Settings(speed=0, access_log=False, memory_budget_mb=SMALL_MB, profile="deployed")
    with TestClient(create_app(settings)) as client:
        ids = [start(client, "a") for _ in range(40)]
        response = client.get(f"/api/chat/runs/{ids[0]}", headers=alice("a"))
        unknown = client.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice("a"))
    assert response.status_code == 404 and "evicted for the memory budget" in response.text, response.text
    assert unknown.status_code == 404 and "evicted" not in unknown.text, unknown.text


def uses(monkeypatch: pytest.MonkeyPatch, apart: float) -> None:
    """Each request's use of its world comes ``apart`` seconds after the last (the clock the budget orders
    worlds by), so which world was used least recently does not depend on how fast the test runs."""
    ticks = itertools.count(1)
    monkeypatch.setattr(worlds_module, "_clock", lambda: next(ticks) * apart)


def test_the_least_recently_used_worlds_runs_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # 150 KB: four worlds (64 KB) and ten runs (59 KB) fit; six more in a third world do not, and
    # evicting an eighth of the budget then takes less than the five runs of the least recently used.
    uses(monkeypatch, apart=1.0)
    settings = Settings(speed=0, access_log=False, memory_budget_mb=0.15)
    with TestClient(create_app(settings)) as small:
        a = [start(small, "a") for _ in range(5)]
        b = [start(small, "b") for _ in range(5)]
        small.get("/__mock/status", headers={"x-mock-world": "a"})  # a is now used more recently than b
        assert budget_status(small)["evicted"]["runs"] == 0
        for _ in range(6):
            start(small, "c")
        counts = worlds_by_name(small)
        first_a = small.get(f"/api/chat/runs/{a[0]}", headers=alice("a"))
        first_b = small.get(f"/api/chat/runs/{b[0]}", headers=alice("b"))
    assert counts["b"]["runsEvicted"] > 0 and counts["a"]["runsEvicted"] == 0, counts
    assert assert_json(first_a)["status"] == "completed"
    assert "evicted" in assert_error(first_b, 404)


def test_worlds_used_in_turn_each_shed_their_own_oldest_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worlds used one after another within `SAME_TIME` count as used together: under pressure, each
    request sheds its own world's oldest state (as a world at its caps does), not the next world's."""
    uses(monkeypatch, apart=0.001)  # well within SAME_TIME (20 ms)
    settings = Settings(speed=0, access_log=False, memory_budget_mb=0.15)
    with TestClient(create_app(settings)) as small:
        names = ["p", "q", "r"]
        firsts = {name: start(small, name) for name in names}
        while budget_status(small)["evicted"]["runs"] == 0:
            for name in names:
                start(small, name)
        before = worlds_by_name(small)
        for _ in range(3):
            start(small, "q")  # q alone now: the others were used at the same time, so q's own goes
        after = worlds_by_name(small)
        first_q = small.get(f"/api/chat/runs/{firsts['q']}", headers=alice("q"))
        budget = budget_status(small)
        assert budget["usedBytes"] == recount(small) <= budget["limitBytes"]  # the budget holds, the sum true
    assert after["q"]["runsEvicted"] > before["q"]["runsEvicted"], (before, after)
    assert all(after[n]["runsEvicted"] == before[n]["runsEvicted"] for n in ("p", "r")), (before, after)
    assert "evicted" in assert_error(first_q, 404)


def test_the_journal_listing_says_how_many_entries_the_budget_took(small: TestClient) -> None:
    for _ in range(200):
        small.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice("j"))
    journal = assert_json(small.get("/__mock/requests", headers={"x-mock-world": "j"}))
    assert journal["evicted"] > 0 and journal["evicted"] + len(journal["requests"]) == 200, journal["evicted"]
    assert journal["requests"][-1]["seq"] == 200
    assert budget_status(small)["evicted"]["journalEntries"] == journal["evicted"]
    assert worlds_by_name(small)["j"]["requestsEvicted"] == journal["evicted"]
    # The default world's journal lost nothing and says so.
    assert assert_json(small.get("/__mock/requests"))["evicted"] == 0


def test_idle_worlds_go_last_and_a_world_made_again_says_its_old_runs_were_evicted(small: TestClient) -> None:
    old = start(small, "old")
    for i in range(12):  # 12 more worlds of 16 KB: more than 100 KB even with no finished state left
        small.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice(f"w{i}"))
    counts = budget_status(small)
    assert counts["evicted"]["worlds"] > 0 and "old" not in worlds_by_name(small)
    assert counts["usedBytes"] == recount(small)
    message = assert_error(small.get(f"/api/chat/runs/{old}", headers=alice("old")), 404)
    assert "evicted for the memory budget" in message and "world was dropped" in message, message


def test_a_live_run_a_pinned_run_and_a_queued_scenario_survive_pressure() -> None:
    settings = Settings(speed=1, access_log=False, memory_budget_mb=SMALL_MB)
    with TestClient(create_app(settings)) as client:
        live = start(client, "live", prefer="scenario=stall")  # 30 s of stream at speed 1
        assert_json(client.post("/__mock/scenarios/next", json={"name": "slow"}, headers={"x-mock-world": "q"}))
        for i in range(30):  # far past the budget: every other world and all their journals go
            client.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice(f"w{i}"))
        counts = budget_status(client)
        kept = worlds_by_name(client)
        status = assert_json(client.get(f"/api/chat/runs/{live}", headers=alice("live")))["status"]
        pinned = assert_json(client.get(f"/api/chat/runs/{PINNED_RUN}", headers=alice()))["status"]
        queue = assert_json(client.get("/__mock/scenarios/next", headers={"x-mock-world": "q"}))["queued"]
        assert_json(client.post("/__mock/reset?all=true"))  # the stalled run ends here, not after 30 s
    assert counts["evicted"]["worlds"] > 0 and counts["evicted"]["journalEntries"] > 0, counts
    assert {"default", "live", "q"} <= set(kept), set(kept)
    assert (status, pinned, queue) == ("running", "running", ["slow"])


def test_with_no_budget_pressure_nothing_is_lost() -> None:
    with TestClient(create_app(Settings(speed=0, access_log=False))) as client:
        ids = {f"w{i}": [start(client, f"w{i}") for _ in range(10)] for i in range(30)}
        for world, runs in ids.items():
            for run_id in runs:
                assert assert_json(client.get(f"/api/chat/runs/{run_id}", headers=alice(world)))["status"] == \
                    "completed"
            journal = assert_json(client.get("/__mock/requests", headers={"x-mock-world": world}))
            assert (len(journal["requests"]), journal["evicted"]) == (20, 0)
        counts = budget_status(client)
        assert counts["limitMb"] == 160 and counts["usedBytes"] == recount(client)
    assert counts["evicted"] == {"runs": 0, "journalEntries": 0, "messages": 0, "worlds": 0}


def test_resets_and_drops_give_back_all_they_kept(small: TestClient) -> None:
    for world in ("a", "b", "c"):
        for _ in range(3):
            start(small, world)
    assert_json(small.post("/__mock/reset", headers={"x-mock-world": "a"}))
    assert budget_status(small)["usedBytes"] == recount(small)
    assert_json(small.post("/__mock/reset?all=true"))
    assert budget_status(small)["usedBytes"] == recount(small) == WORLD_COST


def test_the_inspectors_run_and_request_routes_say_what_the_budget_evicted(small: TestClient) -> None:
    ids = [start(small, "a") for _ in range(40)]
    for _ in range(100):  # then journal entries past what the runs' eviction freed: the oldest entries go too
        small.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice("a"))
    admin = {"x-mock-world": "a"}
    for route in (f"/__mock/runs/{ids[0]}", f"/__mock/runs/{ids[0]}/scenario"):
        message = assert_error(small.get(route, headers=admin), 404)
        assert "evicted for the memory budget" in message and "--memory-budget" in message, (route, message)
    stopped = small.post(f"/__mock/runs/{ids[0]}/stop", headers=admin)
    assert "evicted for the memory budget" in assert_error(stopped, 404)
    assert "evicted" not in assert_error(small.get(f"/__mock/runs/{UNKNOWN_RUN}", headers=admin), 404)
    message = assert_error(small.get("/__mock/requests/1", headers=admin), 404)
    assert "the memory budget evicted the oldest" in message and "--memory-budget" in message, message
    assert "evicted" not in assert_error(small.get("/__mock/requests/9999", headers=admin), 404)


def turn(client: TestClient, world: str, text: str) -> None:
    """One chat turn on the fixture world's idle chat, played at once (speed 0)."""
    response = client.post("/api/chat", json=chat_body(text=text), headers=alice(world))
    assert response.status_code == 200, response.text


def history(client: TestClient, world: str) -> list[dict[str, Any]]:
    """The idle chat's stored rows, oldest first (``GET /api/chats/{id}/messages``: each row's id and message)."""
    return list(assert_json(client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=alice(world)))["data"])


def said(rows: list[dict[str, Any]]) -> list[str]:
    """What the user said, turn by turn."""
    return [part["text"] for row in rows if row["content"]["role"] == "user" for part in row["content"]["parts"]
            if part["type"] == "text"]


def test_chat_turns_keep_to_the_budget_their_oldest_messages_evicted_first(small: TestClient) -> None:
    for i in range(60):  # far past 100 KB: a turn keeps its two messages, its run and its journal entry
        turn(small, "t", f"turn {i}")
    kept = history(small, "t")
    texts = said(kept)
    assert 0 < len(texts) < 60 and texts == [f"turn {i}" for i in range(60 - len(texts), 60)], texts
    assert kept[-1]["content"]["role"] == "assistant"  # the newest turn whole: its question and its answer
    counts, budget = worlds_by_name(small)["t"], budget_status(small)
    assert counts["messagesEvicted"] == 120 - len(kept) == budget["evicted"]["messages"], (counts, budget)
    assert budget["usedBytes"] == recount(small) <= budget["limitBytes"]


def test_a_history_the_api_cut_short_is_still_evicted_and_counted_right(small: TestClient) -> None:
    for i in range(3):
        turn(small, "h", f"turn {i}")
    first = history(small, "h")[0]["id"]
    assert_json(small.delete(f"/api/chats/{CHAT_IDLE}/messages/trailing", params={"from_message_id": first},
                             headers=alice("h")))
    assert history(small, "h") == []
    for i in range(60):  # the rows the API removed go from the budget's log too, in their turn
        turn(small, "h", f"again {i}")
    assert said(history(small, "h"))[-1] == "again 59"
    budget = budget_status(small)
    assert budget["evicted"]["messages"] > 0 and budget["usedBytes"] == recount(small)
    message = assert_error(small.delete(f"/api/chats/{CHAT_IDLE}/messages/trailing",
                                        params={"from_message_id": first}, headers=alice("h")), 404)
    assert "the memory budget has evicted" in message and "may have been one of them" in message, message
