"""The wheel installed the way a user installs it, and driven the way a user drives it.

A fresh venv outside the checkout (``python -m venv``, no system site-packages) gets
``pip install recoup_mock-*.whl[contract] pytest``. Every command then runs from a temporary folder
outside the checkout, with an environment that names neither the checkout nor its venv (no
``PYTHONPATH``, ``VIRTUAL_ENV``, ``RECOUP_*`` or ``PYTEST_*``; ``PATH`` starts with the new venv).
Nothing here imports the checkout's ``mockserver``: only the installed ``recoup-mock`` command, the
venv's ``python`` and the venv's ``pytest`` run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ALICE = "recoup_sk_test_alice"
BOB = "recoup_sk_test_bob"
CHAT_IDLE = "c4a70000-0000-4000-8000-000000000001"
SESSION_READY = "5e551011-0000-4000-8000-000000000001"
EDITED_TEXT = "Edited in my own copy of the fixtures."


def outside_the_checkout(path: Path) -> bool:
    return not path.resolve().is_relative_to(ROOT)


def user_environment(venv: Path) -> dict[str, str]:
    """This process's environment, minus whatever points at the checkout or configures Python, pytest
    or recoup-mock; ``PATH`` has the venv's ``bin`` first and no folder of the checkout."""
    path = [entry for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if entry and outside_the_checkout(Path(entry))]
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTHON", "PYTEST_", "RECOUP_", "VIRTUAL_ENV", "CONDA_", "__PYVENV"))
           and str(ROOT) not in value and name != "PATH"}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return env


@dataclass(frozen=True)
class Installed:
    venv: Path
    env: dict[str, str]
    site_packages: Path

    @property
    def command(self) -> str:
        """``recoup-mock`` as the shell finds it on ``PATH``."""
        found = shutil.which("recoup-mock", path=self.env["PATH"])
        assert found is not None, f"recoup-mock is not on PATH {self.env['PATH']}"
        return found

    def run(self, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def recoup_mock(self, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run(self.command, *args, cwd=cwd, timeout=timeout)


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("user")
    assert outside_the_checkout(base), f"the temporary folder {base} is inside the checkout {ROOT}"
    venv = base / "venv"
    created = subprocess.run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=user_environment(venv),
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, show(created)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    env = user_environment(venv)
    # --no-compile: pip would byte-compile every dependency; Python compiles what is imported, when it is.
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
                          "--disable-pip-version-check", f"{wheel}[contract]", "pytest"],
                         cwd=base, env=env, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, show(pip)
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=base, env=env, capture_output=True,
                           text=True, timeout=30)
    assert where.returncode == 0, show(where)
    return Installed(venv=venv, env=env, site_packages=Path(where.stdout.strip()))


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    assert outside_the_checkout(tmp_path)
    return tmp_path


def test_the_command_and_the_package_come_from_the_venv(installed: Installed, cwd: Path) -> None:
    assert Path(installed.command) == installed.venv / "bin" / "recoup-mock"
    code = ("import importlib.util, json, mockserver, mockserver.contracts.runner, mockserver.settings as s; "
            "print(json.dumps({'package': mockserver.__file__, 'contracts': mockserver.contracts.runner.__file__, "
            "'spec': str(s.DEFAULT_SPEC), 'fixtures': str(s.DEFAULT_FIXTURES), "
            "'top_level_contracts': importlib.util.find_spec('contracts') is not None}))")
    result = installed.run(str(installed.venv / "bin" / "python"), "-c", code, cwd=cwd)
    assert result.returncode == 0, show(result)
    found = json.loads(result.stdout)
    package = installed.site_packages / "mockserver"
    assert Path(found["package"]) == package / "__init__.py"
    assert Path(found["contracts"]) == package / "contracts" / "runner.py"
    assert Path(found["spec"]) == package / "bundled" / "openapi" / "chat.yaml"
    assert Path(found["fixtures"]) == package / "bundled" / "fixtures"
    assert not found["top_level_contracts"]
    assert all(outside_the_checkout(Path(found[name])) for name in ("package", "contracts", "spec", "fixtures"))


def test_version_is_the_one_in_pyproject(installed: Installed, cwd: Path) -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    result = installed.recoup_mock("--version", cwd=cwd)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"recoup-mock {expected}\n", ""), show(result)


def test_validate_checks_the_bundled_files(installed: Installed, cwd: Path) -> None:
    result = installed.recoup_mock("validate", cwd=cwd)
    assert result.returncode == 0, show(result)
    assert "OK" in result.stdout and str(installed.site_packages / "mockserver" / "bundled") in result.stdout


def test_init_writes_an_editable_copy_once_and_serve_uses_it(installed: Installed, cwd: Path) -> None:
    bundled = installed.site_packages / "mockserver" / "bundled" / "fixtures"
    result = installed.recoup_mock("init", cwd=cwd)
    assert result.returncode == 0, show(result)
    assert "recoup-mock serve --fixtures recoup-fixtures" in result.stdout
    assert "recoup-mock validate --fixtures recoup-fixtures" in result.stdout
    copy = cwd / "recoup-fixtures"
    expected = {"world.yaml", *(f"scenarios/{p.name}" for p in (bundled / "scenarios").glob("*.yaml"))}
    written = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    assert written == expected and "scenarios/default.yaml" in written
    assert all((copy / name).read_bytes() == (bundled / name).read_bytes() for name in expected)
    assert all(f"recoup-fixtures/{name}" in result.stdout for name in expected), result.stdout

    # A second init refuses, names what exists, and writes nothing.
    (copy / "scenarios" / "default.yaml").write_text("edited: before the second init\n")
    before = {name: ((copy / name).read_bytes(), (copy / name).stat().st_mtime_ns) for name in expected}
    again = installed.recoup_mock("init", cwd=cwd)
    assert again.returncode == 2, show(again)
    assert "recoup-fixtures/world.yaml" in again.stderr and "nothing was written" in again.stderr, show(again)
    assert "Traceback" not in again.stderr
    assert {name: ((copy / name).read_bytes(), (copy / name).stat().st_mtime_ns) for name in expected} == before

    # The copy is the user's: edit a scenario's text, check it, serve it.
    default = (bundled / "scenarios" / "default.yaml").read_text(encoding="utf-8")
    original = re.search(r'^  - text: (".*")$', default, re.MULTILINE)
    assert original is not None, default
    (copy / "scenarios" / "default.yaml").write_text(default.replace(original.group(1), json.dumps(EDITED_TEXT)),
                                                     encoding="utf-8")
    checked = installed.recoup_mock("validate", "--fixtures", "recoup-fixtures", cwd=cwd)
    assert checked.returncode == 0, show(checked)
    assert "recoup-fixtures" in checked.stdout

    server = Served(installed, cwd, "--fixtures", "recoup-fixtures", "--speed", "0")
    try:
        body = {"chatId": CHAT_IDLE, "sessionId": SESSION_READY,
                "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]}]}
        streamed = httpx.post(f"{server.url}/api/chat", json=body, timeout=30,
                              headers={"x-api-key": ALICE, "prefer": "scenario=default"})
    finally:
        code = server.stop(signal.SIGTERM)
    # uvicorn shuts down gracefully, then dies of the signal it caught (0 when SIGTERM was ignored).
    assert code in (-signal.SIGTERM, 0), server.log()
    assert "Finished server process" in server.log() and "Traceback" not in server.log(), server.log()
    assert streamed.status_code == 200, streamed.text
    chunks = [json.loads(line[len("data: "):]) for line in streamed.text.splitlines()
              if line.startswith("data: {")]
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == EDITED_TEXT, streamed.text


def test_serve_answers_on_loopback_and_stops_cleanly(installed: Installed, cwd: Path) -> None:
    server = Served(installed, cwd)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        resumed = httpx.get(f"{server.url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": ALICE}, timeout=30)
        assert (resumed.status_code, resumed.content) == (204, b"")
    finally:
        code = server.stop(signal.SIGINT)  # Ctrl+C
    log = server.log()
    # 130 after a graceful shutdown (0 when SIGINT was ignored, as in a shell's background job).
    assert code in (130, 0), log
    assert "Traceback" not in log and "Finished server process" in log, log


def test_contract_passes_against_the_bundled_mock(installed: Installed, cwd: Path) -> None:
    result = installed.recoup_mock("contract", "--api-key", ALICE, "--other-api-key", BOB,
                                   "--max-examples", "2", "--max-time", "60", "--seed", "1", cwd=cwd, timeout=180)
    assert result.returncode == 0, show(result)
    assert "recoup-mock contract PASSED" in result.stdout, show(result)


USER_SUITE = '''
import httpx


def test_idle_chat_has_nothing_to_resume(recoup_mock):
    r = httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_IDLE}/stream"), headers=recoup_mock.headers())
    assert r.status_code == 204


def test_rate_limit(recoup_mock):
    recoup_mock.next_scenario("http-429")
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert r.status_code == 429
    assert recoup_mock.requests(path="/api/chat", status=429)
'''


def test_a_user_suite_gets_the_recoup_mock_fixture(installed: Installed, cwd: Path) -> None:
    (cwd / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (cwd / "test_with_the_mock.py").write_text(textwrap.dedent(USER_SUITE))
    result = installed.run(str(installed.venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", cwd=cwd, timeout=120)
    assert result.returncode == 0, show(result)
    assert "2 passed" in result.stdout, show(result)


class Served:
    """``recoup-mock serve --port 0 ...`` in its own process, found through its start-up line."""

    def __init__(self, installed: Installed, cwd: Path, *args: str) -> None:
        self._log_path = cwd / f"serve-{time.monotonic_ns()}.log"
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen([installed.command, "serve", "--port", "0", *args], cwd=cwd,
                                            env=installed.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.url = self._wait_for_url(timeout=30)
        except BaseException:
            self.stop()
            raise

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (started := re.search(r"Uvicorn running on (http://\S+)", self.log())) is None:
            assert self.process.poll() is None, f"serve exited with {self.process.returncode}:\n{self.log()}"
            assert time.monotonic() < deadline, f"recoup-mock serve did not start within {timeout} s:\n{self.log()}"
            time.sleep(0.05)
        return started.group(1)

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``sig``; the exit code, or None when the server had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
            return None

