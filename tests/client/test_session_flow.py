"""The page flow of a Recoup front end, over a live mock, with the real ``ai`` client for the turn.

``session_flow.mjs`` runs, step by step, what Recoup's front end (open-agents, recoup-surface.md §8) calls on a
session: create it, list its chats, the reconnect probe, the status, create the sandbox and read the status
until it is active, one turn through ``AbstractChat`` (the engine under ``useChat``) on ``DefaultChatTransport``,
the chat read back, the list (unread), mark read, the list, rename, a new chat with the client's id, the list,
delete it, then try to delete the only chat left, the list, archive and unarchive the session, read it.

It runs on ai 6 and ai 7 (npm aliases ai6, ai7), in a world of each profile (documented, deployed), against two
mocks: one started from ``openapi/chat.yaml`` and one from ``tests/data/upstream/merged.json`` (the upstream
documents), which lack two of those routes (``POST …/chats/{chatId}/read`` and ``GET /api/sandbox/reconnect``):
there those steps get the 404 of an unknown path and the flow goes on. Every step's status and body is
asserted; the runs on ai 6 and ai 7 are the same; and the deployed run differs from the documented one only
where this module says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from node_support import CLIENT_DIR, REPO_ROOT, require_node_project
from support import LiveServer, live_server
from workflow_support import configure_world, run_node_scripts

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

SCRIPT = CLIENT_DIR / "session_flow.mjs"
UPSTREAM = REPO_ROOT / "tests" / "data" / "upstream" / "merged.json"
ALIASES = ["ai6", "ai7"]
PROFILES = ["documented", "deployed"]
SPECS = ["chat", "upstream"]
NODE_TIMEOUT = 120.0

#: The flow, step by step (session_flow.mjs): POST /api/sandbox answers once the sandbox is up, so the first
#: status read after it says `active`.
STEPS = [
    ("create a session", "POST", "/api/sessions"),
    ("list the chats", "GET", "/api/sessions/S/chats"),
    ("reconnect probe", "GET", "/api/sandbox/reconnect?sessionId=S"),
    ("sandbox status on mount", "GET", "/api/sandbox/status?sessionId=S"),
    ("create the sandbox", "POST", "/api/sandbox"),
    ("poll the sandbox status", "GET", "/api/sandbox/status?sessionId=S"),
    ("stream a turn", "POST", "/api/chat"),
    ("read the chat back", "GET", "/api/sessions/S/chats/C1"),
    ("list the chats (unread)", "GET", "/api/sessions/S/chats"),
    ("mark the chat read", "POST", "/api/sessions/S/chats/C1/read"),
    ("list the chats (read)", "GET", "/api/sessions/S/chats"),
    ("rename the chat", "PATCH", "/api/sessions/S/chats/C1"),
    ("new chat", "POST", "/api/sessions/S/chats"),
    ("list the chats (two)", "GET", "/api/sessions/S/chats"),
    ("delete the new chat", "DELETE", "/api/sessions/S/chats/C2"),
    ("delete the only chat", "DELETE", "/api/sessions/S/chats/C1"),
    ("list the chats (one)", "GET", "/api/sessions/S/chats"),
    ("archive the session", "PATCH", "/api/sessions/S"),
    ("sandbox status once archived", "GET", "/api/sandbox/status?sessionId=S"),
    ("unarchive the session", "PATCH", "/api/sessions/S"),
    ("read the session", "GET", "/api/sessions/S"),
]
#: The routes the upstream documents lack: an unknown path there.
MISSING_UPSTREAM = {"reconnect probe", "mark the chat read"}
#: Where a deployed world answers otherwise than a documented one, the model aside (every chat's is the
#: deployed server's own, `comparable` names it): docs/drift.md's rows.
DEPLOYED_SESSION = {
    # Sandbox status of a hibernated sandbox: `sandboxState` is the stub {type} from the start, and archiving
    # keeps the sandbox's name, so an archived sandbox reports `active`.
    "create a session", "archive the session", "sandbox status once archived", "unarchive the session",
    "read the session",
    # Error texts: the server's own ("Cannot delete the only chat in a session"), and on chat.yaml the
    # deployed error body {status, error} for the documented {status, message}.
    "delete the only chat",
}
DEPLOYED_DIFFERS = {
    "chat": DEPLOYED_SESSION,
    # An unknown path is Next's HTML 404 page when deployed.
    "upstream": DEPLOYED_SESSION | MISSING_UPSTREAM,
}
#: The model of every chat: the fixture world's, or the deployed server's own.
MODELS = {"documented": "openai/gpt-5-mini", "deployed": "moonshotai/kimi-k3"}
ONLY_CHAT = "Cannot delete the only chat in a session"


def scenario_text(name: str) -> str:
    steps = yaml.safe_load((DEFAULT_FIXTURES / "scenarios" / f"{name}.yaml").read_text())["steps"]
    return "".join(s["text"] if isinstance(s["text"], str) else "".join(s["text"]) for s in steps if "text" in s)


def world(profile: str, alias: str) -> str:
    return f"flow-{profile}-{alias}"


#: What each flow printed: {alias, version, ids, steps, turn}.
Run = dict[str, Any]
Flows = dict[tuple[str, str, str], Run]


@pytest.fixture(scope="module")
def flows() -> Iterator[Flows]:
    """Every (spec, profile, alias) flow, each in a world of its own, the eight Node processes at once."""
    node = require_node_project(CLIENT_DIR, *ALIASES)
    if not UPSTREAM.is_file():
        pytest.fail(f"{UPSTREAM} is missing (tests/data/upstream/merge.py writes it)")
    with live_server(speed=0) as chat_mock, live_server(speed=0, spec=UPSTREAM) as upstream_mock:
        mocks: dict[str, LiveServer] = {"chat": chat_mock, "upstream": upstream_mock}
        argsets: dict[str, list[str]] = {}
        for spec, mock in mocks.items():
            for profile in PROFILES:
                for alias in ALIASES:
                    configure_world(mock, world(profile, alias), profile)
                    config = {"base": mock.base_url, "world": world(profile, alias)}
                    argsets[f"{spec} {profile} {alias}"] = [alias, json.dumps(config)]
        results = run_node_scripts(node, SCRIPT, argsets, NODE_TIMEOUT)
        runs: Flows = {}
        for key, run in results.items():
            if isinstance(run, str):
                pytest.fail(f"node session_flow.mjs {key}: {run}")
            if "crash" in run:
                pytest.fail(f"{key}: the flow crashed at step {len(run['steps']) + 1}: {run['crash']}\n"
                            f"{run.get('stack')}")
            spec, profile, alias = key.split()
            runs[(spec, profile, alias)] = run
        yield runs


CASES = [(spec, profile, alias) for spec in SPECS for profile in PROFILES for alias in ALIASES]


@pytest.fixture(params=CASES, ids=[" ".join(case) for case in CASES])
def flow(request: pytest.FixtureRequest, flows: Flows) -> tuple[str, str, Run]:
    spec, profile, alias = request.param
    return spec, profile, flows[(spec, profile, alias)]


def named(text: str, run: Run) -> str:
    ids = run["ids"]
    return text.replace(ids["session"], "S").replace(ids["chat"], "C1").replace(ids["newChat"], "C2")


def steps_of(run: Run) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in run["steps"]}


def test_the_flow_has_its_steps_in_order(flow: tuple[str, str, Run]) -> None:
    _, _, run = flow
    assert [(s["n"], s["name"], s["method"], named(s["path"], run)) for s in run["steps"]] == [
        (n, *step) for n, step in enumerate(STEPS, start=1)]


def unknown_path(step: dict[str, Any], profile: str) -> None:
    """The 404 of a path the spec does not have: the mock's error body naming it, or (deployed) the page
    Next answers such a path with."""
    assert step["status"] == 404
    if profile == "deployed":
        assert isinstance(step["body"], str)
        assert "404: This page could not be found." in step["body"]
    else:
        assert step["body"]["status"] == "error"
        assert step["body"]["message"].startswith(f"No operation at {step['method']} {step['path'].split('?')[0]};")


def test_each_step_answers_as_documented(flow: tuple[str, str, Run]) -> None:
    spec, profile, run = flow
    steps = steps_of(run)
    ids = run["ids"]

    def body(name: str) -> Any:
        return steps[name]["body"]

    statuses = {name: steps[name]["status"] for name in steps}
    missing = MISSING_UPSTREAM if spec == "upstream" else set()
    assert statuses == {name: (404 if name in missing else 400 if name == "delete the only chat" else 200)
                        for name, _, _ in STEPS}

    # A session and its first chat; the front end's own keys are stripped, the repo is the mock's.
    created = body("create a session")
    session, chat = created["session"], created["chat"]
    assert set(created) == {"session", "chat"}
    assert (session["id"], chat["id"]) == (ids["session"], ids["chat"])
    assert (session["status"], session["lifecycleState"], session["lifecycleVersion"]) == ("running", "provisioning", 0)
    assert session["cloneUrl"].startswith(f"https://github.com/recoupable/{session['userId']}")
    assert (chat["sessionId"], chat["title"], chat["lastAssistantMessageAt"]) == (session["id"], "New chat", None)
    assert chat["modelId"] == MODELS[profile]
    assert session["sandboxState"] == ({"type": "vercel"} if profile == "deployed" else None)

    summary = {**chat, "hasUnread": False, "isStreaming": False}
    assert body("list the chats") == {"chats": [summary], "defaultModelId": chat["modelId"]}

    if "reconnect probe" in missing:
        unknown_path(steps["reconnect probe"], profile)
    else:
        probe = body("reconnect probe")
        assert (probe["status"], probe["hasSnapshot"], probe["lifecycle"]["state"]) == (
            "no_sandbox", False, "provisioning")
    mount = body("sandbox status on mount")
    assert (mount["status"], mount["hasSnapshot"], mount["lifecycleVersion"], mount["lifecycle"]["state"]) == (
        "no_sandbox", False, 0, "provisioning")

    sandbox = body("create the sandbox")
    assert (sandbox["currentBranch"], sandbox["mode"], sandbox["timeout"]) == ("main", "vercel", 30 * 60 * 1000)
    active = body("poll the sandbox status")
    lifecycle = active["lifecycle"]
    assert (active["status"], active["hasSnapshot"], active["lifecycleVersion"], lifecycle["state"]) == (
        "active", False, 1, "active")
    assert lifecycle["hibernateAfter"] - lifecycle["lastActivityAt"] == 5 * 60 * 1000
    assert lifecycle["sandboxExpiresAt"] == sandbox["createdAt"] + sandbox["timeout"]

    # The turn, as useChat ends it: one POST answered with the stream, the answer in full.
    turn = run["turn"]
    [post] = turn["responses"]
    assert post["url"].endswith("/api/chat")
    assert (post["method"], post["status"], post["contentType"]) == ("POST", 200, "text/event-stream")
    assert (turn["status"], turn["statusHistory"], turn["errors"]) == ("ready", ["submitted", "streaming", "ready"], [])
    user, answer = turn["messages"]
    assert (user["role"], user["text"], answer["role"], answer["text"]) == (
        "user", "Draft a tweet for the single", "assistant", scenario_text("default"))
    assert turn["finishes"] == [{"messageId": answer["id"], "isAbort": False, "isDisconnect": False,
                                 "isError": False}]

    # Read back: the user message as sent, the streamed message as the assistant message (same id, text,
    # parts).
    back = body("read the chat back")
    assert (back["chat"]["id"], back["isStreaming"], back["chat"]["activeStreamId"]) == (chat["id"], False, None)
    assert back["chat"]["lastAssistantMessageAt"] is not None
    assert back["messages"] == [
        {"id": user["id"], "role": "user", "parts": user["parts"]},
        {"id": answer["id"], "role": "assistant", "parts": answer["parts"]},
    ]
    after_turn = {**back["chat"], "isStreaming": False}
    assert body("list the chats (unread)")["chats"] == [{**after_turn, "hasUnread": True}]

    if "mark the chat read" in missing:
        unknown_path(steps["mark the chat read"], profile)
        read = True  # nothing marked it read
    else:
        assert body("mark the chat read") == {"success": True}
        read = False
    assert body("list the chats (read)")["chats"] == [{**after_turn, "hasUnread": read}]

    # Renamed: the title, and nothing else (updatedAt is left alone).
    renamed = body("rename the chat")["chat"]
    assert renamed == {**back["chat"], "title": "Tour dates"}

    new = body("new chat")["chat"]
    assert (new["id"], new["sessionId"], new["title"], new["lastAssistantMessageAt"]) == (
        ids["newChat"], session["id"], "New chat", None)
    listed = body("list the chats (two)")["chats"]
    assert listed == [{**renamed, "isStreaming": False, "hasUnread": read},
                      {**new, "isStreaming": False, "hasUnread": False}]

    assert body("delete the new chat") == {"success": True}
    refused = body("delete the only chat")
    key = "message" if spec == "chat" and profile == "documented" else "error"
    assert set(refused) == {"status", key}
    assert refused["status"] == "error"
    assert refused[key].startswith(ONLY_CHAT)
    assert body("list the chats (one)")["chats"] == listed[:1]

    archived = body("archive the session")["session"]
    assert (archived["id"], archived["status"], archived["lifecycleState"]) == (session["id"], "archived", "archived")
    gone = body("sandbox status once archived")
    # Deployed, the archived sandbox keeps its name and has no expiry: `active`.
    assert (gone["status"], gone["hasSnapshot"], gone["lifecycleVersion"], gone["lifecycle"]["state"]) == (
        "active" if profile == "deployed" else "no_sandbox", False, 2, "archived")
    assert (gone["lifecycle"]["hibernateAfter"], gone["lifecycle"]["sandboxExpiresAt"]) == (None, None)
    unarchived = body("unarchive the session")["session"]
    assert (unarchived["status"], unarchived["lifecycleState"], unarchived["lifecycleVersion"]) == (
        "running", None, 3)
    assert body("read the session") == {"session": unarchived}


def comparable(run: Run) -> list[tuple[str, int, str]]:
    """The steps with the ids the client chose (the new chat's, the user message's) and the world's model named."""
    user_id = run["turn"]["messages"][0]["id"]
    model = json.dumps(run["steps"][0]["body"]["chat"]["modelId"])
    return [(s["name"], s["status"], named(json.dumps(s["body"], sort_keys=True), run).replace(user_id, "U")
             .replace(model, '"M"')) for s in run["steps"]]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("profile", PROFILES)
def test_ai6_and_ai7_see_the_same_flow(flows: Flows, spec: str, profile: str) -> None:
    ai6, ai7 = flows[(spec, profile, "ai6")], flows[(spec, profile, "ai7")]
    assert ai6["version"].startswith("6.") and ai7["version"].startswith("7.")
    assert comparable(ai6) == comparable(ai7)


@pytest.mark.parametrize("spec", SPECS)
def test_the_deployed_profile_differs_only_where_said(flows: Flows, spec: str) -> None:
    documented = comparable(flows[(spec, "documented", "ai6")])
    deployed = comparable(flows[(spec, "deployed", "ai6")])
    differs = {a[0] for a, b in zip(documented, deployed, strict=True) if a != b}
    assert differs == DEPLOYED_DIFFERS[spec]
