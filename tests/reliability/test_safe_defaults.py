"""Safe by default: loopback only, one documented port, keys never logged, scenario names confined."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from support import ALICE, CHAT_IDLE, ServerProcess, assert_error, assert_no_content, assert_stream, chat_body

from mockserver import create_app
from mockserver.cli import _parser
from mockserver.settings import DEFAULT_FIXTURES, Settings

SECRET = "recoup_sk_this-is-a-secret-key-value"
H = {"x-api-key": ALICE}
#: A valid scenario planted where a name used as a path would find it, and the text it would stream.
PLANTED_TEXT = "planted-scenario-was-read"
PLANTED = f"name: {{name}}\nsteps:\n  - text: {PLANTED_TEXT}\n"


def test_defaults_bind_loopback() -> None:
    assert Settings().host == "127.0.0.1"
    assert _parser().parse_args(["serve"]).host is None  # None -> the setting's default


def test_the_server_listens_on_its_one_port_on_loopback_and_never_logs_keys() -> None:
    server = ServerProcess(quiet=False)
    try:
        assert server.listening() == [f"127.0.0.1:{server.port}"]
        httpx.get(f"{server.base_url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": ALICE})
        httpx.get(f"{server.base_url}/api/chat/{CHAT_IDLE}/stream", headers={"authorization": f"Bearer {SECRET}"})
        httpx.get(f"{server.base_url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": SECRET})
        journal = httpx.get(f"{server.base_url}/__mock/requests").text
    finally:
        server.stop()
    log = server.log()
    assert "GET /api/chat/" in log and "recoup_sk_…lice" in log
    for text in (log, journal):
        assert ALICE not in text and SECRET not in text and "secret-key" not in text


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory far from the fixtures, with a valid scenario file ``outside.yaml`` in it."""
    directory = tmp_path_factory.mktemp("elsewhere")
    (directory / "outside.yaml").write_text(PLANTED.format(name="outside"))
    return directory


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The bundled fixtures, with a valid scenario planted next to the scenario directory (``planted.yaml``)."""
    fixtures = tmp_path_factory.mktemp("fixtures")
    shutil.copytree(DEFAULT_FIXTURES, fixtures, dirs_exist_ok=True)
    (fixtures / "planted.yaml").write_text(PLANTED.format(name="planted"))
    with TestClient(create_app(Settings(speed=0, access_log=False, fixtures=fixtures))) as client:
        yield client


@pytest.fixture
def client(app: TestClient) -> TestClient:
    app.post("/__mock/reset").raise_for_status()
    return app


def path_like_names(elsewhere: Path) -> list[str]:
    """Names that reach a file if a name is ever used as a path: up, across, absolute, with the suffix."""
    return ["../planted", "../planted.yaml", "scenarios/../../planted", "./../planted", "..", "../world",
            "../../etc/passwd", "/etc/passwd", str(elsewhere / "outside"), str(elsewhere / "outside.yaml"),
            "default.yaml", "scenarios/default", "..%2Fplanted", "..\\planted"]


def assert_unknown_scenario(client: TestClient, response: httpx.Response) -> str:
    """The documented 400 error body, listing exactly the loaded scenarios; returns the message."""
    message = assert_error(response, 400, contains="Unknown scenario")
    assert PLANTED_TEXT not in response.text
    loaded = {s["name"] for s in client.get("/__mock/scenarios").json()["scenarios"]}
    assert "planted" not in loaded and "outside" not in loaded
    listed = re.search(r"available:\s*(.*)$", message, re.IGNORECASE | re.DOTALL)
    assert listed is not None, message
    assert {name.strip() for name in listed.group(1).split(",")} == loaded
    return message


def test_a_path_like_scenario_name_in_prefer_is_a_400_and_starts_nothing(client: TestClient,
                                                                         elsewhere: Path) -> None:
    for name in path_like_names(elsewhere):
        response = client.post("/api/chat", json=chat_body(), headers={**H, "prefer": f"scenario={name}"})
        assert_unknown_scenario(client, response)
        assert_no_content(client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=H))


def test_a_path_like_scenario_name_queued_through_the_admin_api_is_a_400_and_queues_nothing(
        client: TestClient, elsewhere: Path) -> None:
    for name in path_like_names(elsewhere):
        assert_unknown_scenario(client, client.post("/__mock/scenarios/next", json={"name": name}))
        assert client.get("/__mock/scenarios/next").json() == {"queued": []}


def test_a_marker_names_a_loaded_scenario_or_nothing(client: TestClient, elsewhere: Path) -> None:
    # A name in the marker's own alphabet that is not loaded, though a file of that name exists: 400.
    for name in ["planted", "outside", "world", "DEFAULT"]:
        assert_unknown_scenario(client, client.post("/api/chat", json=chat_body(text=f"Go [scenario:{name}]"),
                                                    headers=H))
    # A path is not a marker at all: the turn gets the chat's default, never a file's script.
    default = assert_stream(client.post("/api/chat", json=chat_body(), headers=H))
    for name in path_like_names(elsewhere):
        streamed = assert_stream(client.post("/api/chat", json=chat_body(text=f"Go [scenario:{name}]"), headers=H))
        assert [c.get("delta") for c in streamed] == [c.get("delta") for c in default], name


def test_an_unknown_name_is_escaped_in_the_message(client: TestClient) -> None:
    name = "\x1b[31m../planted\r\n\u2028<script>"
    message = assert_unknown_scenario(client, client.post("/__mock/scenarios/next", json={"name": name}))
    assert not any(ch in message for ch in "\x1b\r\n\u2028"), message
    assert "\\x1b" in message  # shown, escaped


@pytest.mark.parametrize("channel", ["prefer", "marker", "queue"])
def test_an_unknown_name_is_capped_in_the_message(client: TestClient, channel: str) -> None:
    def message_for(name: str) -> str:
        if channel == "prefer":
            response = client.post("/api/chat", json=chat_body(), headers={**H, "prefer": f"scenario={name}"})
        elif channel == "marker":
            response = client.post("/api/chat", json=chat_body(text=f"[scenario:{name}]"), headers=H)
        else:
            response = client.post("/__mock/scenarios/next", json={"name": name})
        return assert_unknown_scenario(client, response)

    short, long = message_for("x"), message_for("x" * 5000)
    assert len(long) - len(short) <= 200, f"a 5000-character name made the message {len(long)} characters long"


def test_a_missing_fixtures_directory_is_a_clear_error() -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--fixtures", "/nonexistent", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "/nonexistent" in done.stderr and "Traceback" not in done.stderr
