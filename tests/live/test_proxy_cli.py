"""``recoup-mock proxy`` as a command: its flags, its help, and a process in front of a live mock."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml
from openapi_spec_validator import validate
from starlette.routing import Route
from support import ALICE, chat_body, free_port, live_server

from mockserver.cli import _parser, main
from mockserver.proxy.admin import ProxySettings, ProxyState, admin_app
from mockserver.settings import DEFAULT_ADMIN_SPEC

PROXY_ADMIN = DEFAULT_ADMIN_SPEC.with_name("proxy-admin.yaml")


def test_the_flags_are_exactly_the_documented_ones(capsys: pytest.CaptureFixture[str]) -> None:
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    proxy = commands.choices["proxy"]
    assert {s for a in proxy._actions for s in a.option_strings} == \
        {"-h", "--help", "--target", "--host", "--port", "--record", "--spec", "--profile"}
    with pytest.raises(SystemExit):
        main(["proxy", "--help"])
    shown = capsys.readouterr().out
    for call in ("GET  /__mock/violations", "GET  /__mock/requests", "GET  /__mock/status", "POST /__mock/reset"):
        assert call in shown
    assert "default 127.0.0.1: loopback only" in shown and "default 4011" in shown


def test_a_target_that_is_no_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--target", "api.recoupable.dev"]) == 2
    assert "--target 'api.recoupable.dev' is not an http(s) URL" in capsys.readouterr().err


def test_the_admin_document_is_valid_and_is_what_the_proxy_serves(tmp_path: Path) -> None:
    document = yaml.safe_load(PROXY_ADMIN.read_text())
    validate(document)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    app = admin_app(ProxyState(ProxySettings(target="http://127.0.0.1:9")))
    served = {(method, r.path) for r in app.routes if isinstance(r, Route) for method in r.methods or ()
              if method != "HEAD"}
    assert served == documented


def proxy_process(target: str, port: int, log: IO[bytes], *args: str) -> tuple[subprocess.Popen[bytes], Any]:
    """``recoup-mock proxy --target TARGET --port PORT ARGS`` writing to ``log``, once it answers: the process
    and its ``GET /__mock/status``."""
    process = subprocess.Popen([sys.executable, "-m", "mockserver", "proxy", "--target", target,
                                "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):  # bounded: 15 s
        try:
            return process, httpx.get(f"http://127.0.0.1:{port}/__mock/status", timeout=1).json()
        except httpx.TransportError:
            assert process.poll() is None, f"the proxy exited with {process.returncode}"
            time.sleep(0.05)
    process.kill()
    pytest.fail("the proxy did not answer within 15 s")


def test_the_command_forwards_checks_and_records(tmp_path: Path) -> None:
    port = free_port()
    with live_server(speed=0.0) as upstream:
        log = (tmp_path / "proxy.log").open("wb")
        process, status = proxy_process(upstream.base_url, port, log, "--record", str(tmp_path / "rec"))
        try:
            base = f"http://127.0.0.1:{port}"
            assert status["target"] == upstream.base_url and status["profile"] == "documented"
            turn = httpx.post(base + "/api/chat", json=chat_body(), headers={"x-api-key": ALICE}, timeout=10)
            assert turn.status_code == 200 and turn.content.endswith(b"data: [DONE]\n\n")
            bad = httpx.post(base + "/api/chat", json={"chatId": "x"}, headers={"x-api-key": ALICE}, timeout=10)
            assert bad.status_code == 400 and bad.headers["x-mock-violations"] == "3"
            for _ in range(200):  # bounded: the recording is written once the stream has ended
                if list((tmp_path / "rec" / "scenarios").glob("recorded-1-*.yaml")):
                    break
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(timeout=10)
            log.close()
    text = (tmp_path / "proxy.log").read_text()
    assert "forwarding to " + upstream.base_url in text and f"Uvicorn running on http://127.0.0.1:{port}" in text
    violations = [line for line in text.splitlines() if " VIOLATION " in line]
    assert len(violations) == 3 and all("POST /api/chat - [request-schema]" in line for line in violations)
    assert ALICE not in text and "recoup_sk_…lice" not in text
    assert (tmp_path / "rec" / "world.yaml").is_file()
    assert main(["validate", "--fixtures", str(tmp_path / "rec")]) == 0


def test_a_stream_open_when_the_proxy_stops_is_cut_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    port = free_port()
    with live_server(speed=1.0) as upstream, (tmp_path / "proxy.log").open("wb") as log:
        httpx.post(upstream.base_url + "/__mock/scenarios/next", json={"name": "stall"}).raise_for_status()
        process, _ = proxy_process(upstream.base_url, port, log)
        try:
            with httpx.stream("POST", f"http://127.0.0.1:{port}/api/chat", json=chat_body(),
                              headers={"x-api-key": ALICE}, timeout=10) as stalled:
                reading = stalled.iter_raw()  # kept: dropping the iterator would close the stream ourselves
                next(reading)
                process.send_signal(signal.SIGINT)
                with pytest.raises(httpx.RemoteProtocolError):  # cut once the grace period is over: no [DONE]
                    for _ in reading:
                        pass
            process.wait(timeout=15)  # it stops (130: uvicorn re-raises the SIGINT once it has shut down)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = (tmp_path / "proxy.log").read_text()
    assert "Traceback" not in text and "Exception in ASGI application" not in text, text
    (line,) = [line for line in text.splitlines() if " POST /api/chat 200 " in line]
    assert line.endswith(" (cut short: the proxy stopped)"), line
