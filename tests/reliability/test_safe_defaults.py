"""Safe by default: loopback only, one documented port, keys never logged, names confined."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from support import ALICE, CHAT_IDLE, ServerProcess

from mockserver.cli import _parser
from mockserver.settings import Settings

SECRET = "recoup_sk_this-is-a-secret-key-value"


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


@pytest.mark.parametrize("name", ["../world", "..", "scenarios/default", "/etc/passwd", "default.yaml"])
def test_scenario_names_never_reach_the_file_system(name: str) -> None:
    from starlette.testclient import TestClient

    from mockserver import create_app

    with TestClient(create_app(Settings(speed=0, access_log=False))) as client:
        response = client.post("/api/chat/runs", json={"prompt": "x"},
                               headers={"x-api-key": ALICE, "prefer": f"scenario={name}"})
        assert response.status_code == 400 and "available:" in response.json()["message"]
        queued = client.post("/__mock/scenarios/next", json={"name": name})
        assert queued.status_code == 400


def test_a_missing_fixtures_directory_is_a_clear_error() -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--fixtures", "/nonexistent", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "/nonexistent" in done.stderr and "Traceback" not in done.stderr
