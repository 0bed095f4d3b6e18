"""The options of a contract run: one table behind both front ends, flags over RECOUP_CONTRACT_*
variables, bad values refused with the flag, the value and what is expected (exit 2, no traceback),
and the defaults that depend on the target. Nothing here sends a request (``--dry-run`` shows the plan)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from contract_variants import ALICE

from mockserver.cli import _parser, main
from mockserver.contracts import conftest as contract_conftest
from mockserver.contracts.baseline import BUNDLED
from mockserver.contracts.options import DEFAULT_MAX_STREAMS, OPTIONS, ContractOptions, OptionError

ROOT = Path(__file__).resolve().parents[2]
TARGET = "https://staging.example.com"


def dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["contract", "--api-key", ALICE, "--dry-run", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def scope(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("  scope:"))


def _contract_parser() -> argparse.ArgumentParser:
    sub = next(action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["contract"]
    return parser


def test_both_front_ends_have_every_flag_of_the_table() -> None:
    table = {flag for option in OPTIONS for flag in (option.flag, option.negative) if flag}
    command = {flag for action in _contract_parser()._actions for flag in action.option_strings} - {"-h", "--help"}

    class Recorder:
        def __init__(self) -> None:
            self.flags: set[str] = set()

        def getgroup(self, *args: Any) -> Recorder:
            return self

        def addoption(self, flag: str, **kwargs: Any) -> None:
            self.flags.add(flag)

    recorder = Recorder()
    contract_conftest.pytest_addoption(recorder)  # type: ignore[arg-type]
    assert table == command == recorder.flags
    assert {"--rate-limit", "--max-streams", "--include", "--exclude", "--phases", "--flows", "--no-flows", "--header",
            "--request-timeout", "--dry-run", "--report", "--baseline", "--update-baseline"} <= table


@pytest.mark.parametrize(("args", "shown", "expected"), [
    (["--rate-limit", "10/x"], "--rate-limit '10/x'", "expected N/s or N/m"),
    (["--rate-limit", "0/s"], "--rate-limit '0/s'", "N >= 1"),
    (["--max-streams", "-1"], "--max-streams '-1'", "a whole number >= 0, or unlimited"),
    (["--max-streams", "many"], "--max-streams 'many'", "a whole number >= 0, or unlimited"),
    (["--include", "postChats"], "--include 'postChats'",
     "expected operations of chat.yaml, each its operationId or 'METHOD /path': postChat,"),
    (["--exclude", "postChat", "--exclude", "nope"], "--exclude 'nope'", "expected operations"),
    (["--include", "PUT /api/chat"], "--include 'PUT /api/chat'", "expected operations"),
    (["--spec", "missing.yaml"], "--spec 'missing.yaml'",
     "expected an OpenAPI 3.1 or 3.2 document; it cannot be read"),
    (["--phases", "examples,fuzz"], "--phases 'examples,fuzz'", "examples, coverage, fuzzing, stateful"),
    (["--flows", "chat"], "--flows 'chat'", "chat_turn, resume_idle"),
    (["--request-timeout", "soon"], "--request-timeout 'soon'", "a number of seconds greater than 0"),
    (["--max-time", "-5"], "--max-time '-5'", "a number of seconds greater than 0"),
    (["--max-examples", "0"], "--max-examples '0'", "a whole number >= 1"),
    (["--base-url", "api.example.com"], "--base-url 'api.example.com'", "http:// or https://"),
    (["--header", "x-token"], "--header 'x-t***'", "expected 'Name: value'"),
    (["--header", "X-Api-Key: other"], "--header 'X-Api-Key: ***'", "a header the suite does not set itself"),
    (["--header", "x-a: 1", "--header", "X-A: 2"], "--header 'x-a'", "expected each header once"),
])
def test_a_bad_value_is_exit_2_naming_the_flag_the_value_and_what_is_expected(
        capsys: pytest.CaptureFixture[str], args: list[str], shown: str, expected: str) -> None:
    code = main(["contract", "--api-key", ALICE, *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith(f"recoup-mock contract: {shown}: "), captured.err
    assert expected in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_header_value_is_never_echoed_even_when_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "--api-key", ALICE, "--header", "authorization: Bearer hunter2-very-secret"]) == 2
    assert "hunter2" not in capsys.readouterr().err
    assert main(["contract", "--api-key", ALICE, "--header", "hunter2-very-secret"]) == 2
    assert "hunter2-very" not in capsys.readouterr().err


def test_a_bad_variable_is_named_as_such(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_CONTRACT_REQUEST_TIMEOUT", "ten")
    assert main(["contract", "--api-key", ALICE, "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith("recoup-mock contract: RECOUP_CONTRACT_REQUEST_TIMEOUT 'ten': expected")
    # The flag wins, so the variable is not even read.
    out = dry_run(capsys, "--request-timeout", "3")
    assert "request timeout 3 s" in out


def test_variables_still_work_and_flags_win(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PHASES": "stateful", "FLOWS": "none", "OPERATIONS": "getSession,stopChat",
                        "RATE_LIMIT": "2/m", "BASELINE": "none"}.items():
        monkeypatch.setenv(f"RECOUP_CONTRACT_{name}", value)
    out = dry_run(capsys)
    assert "scope: phases stateful on 2 of 29 operations; flows none" in out
    assert "at most 2 requests a minute" in out and "baseline: none (--baseline none)" in out
    out = dry_run(capsys, "--phases", "coverage,examples", "--flows", "--include", "postChat", "--rate-limit", "5/s",
                  "--baseline", "production")
    assert "scope: phases examples, coverage on 1 of 29 operations; flows sandbox_active, chat_turn, resume_idle," \
        in scope(out)
    assert "at most 5 requests a second" in out and f"baseline: {BUNDLED}" in out
    assert "flows none" in scope(dry_run(capsys, "--no-flows"))


def test_stream_cap_and_rate_defaults_depend_on_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    bundled = ContractOptions(api_key=ALICE)
    deployed = ContractOptions(api_key=ALICE, base_url=TARGET)
    assert (bundled.stream_cap(), deployed.stream_cap()) == (None, DEFAULT_MAX_STREAMS)
    assert (bundled.effective_rate_limit(), deployed.effective_rate_limit()) == (None, "auto")
    assert deployed.replace(max_streams="unlimited").stream_cap() is None
    assert bundled.replace(max_streams=3).stream_cap() == 3
    assert "no cap on requests that could start an agent run (the bundled mock)" in dry_run(capsys)
    out = dry_run(capsys, "--base-url", TARGET)
    assert f"at most {DEFAULT_MAX_STREAMS} requests that could start an agent run (the default against" in out
    assert "--max-streams unlimited" in dry_run(capsys, "--base-url", TARGET, "--max-streams", "unlimited")


def test_baseline_by_path_by_bundled_name_or_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def baseline(value: str) -> Any:
        return ContractOptions.from_sources({"api_key": ALICE, "baseline": value}, environ={}).baseline

    assert baseline("production") == BUNDLED
    assert baseline("none") == "none"
    assert baseline(str(tmp_path / "ours.json")) == tmp_path / "ours.json"
    (tmp_path / "production").write_text("{}")
    monkeypatch.chdir(tmp_path)  # an existing file of that name wins over the bundled one
    assert baseline("production") == Path("production")


def test_a_missing_api_key_is_said_plainly() -> None:
    with pytest.raises(OptionError, match=r"^--api-key is required"):
        ContractOptions.from_sources({}, environ={})


def test_programmatic_options_are_checked_too() -> None:
    with pytest.raises(OptionError, match=r"^--phases 'fuzz': expected a subset of the phases"):
        ContractOptions(api_key=ALICE, phases=("fuzz",))
    with pytest.raises(OptionError, match=r"^--include 'nope'"):
        ContractOptions(api_key=ALICE, include=("nope",))


def _pytest_contracts(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOUP_CONTRACT_")}
    return subprocess.run([sys.executable, "-m", "pytest", "contracts", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_pytest_contracts_reads_the_same_options() -> None:
    planned = _pytest_contracts("--api-key", ALICE, "--base-url", TARGET, "--dry-run", "--exclude", "stopChat",
                                "--rate-limit", "3/s", "--header", "x-bypass: pytest-secret-value")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"at most {DEFAULT_MAX_STREAMS} requests that could start an agent run" in planned.stdout
    assert "never called: stopChat" in planned.stdout and "at most 3 requests a second" in planned.stdout
    assert "skipped" in planned.stdout and "pytest-secret-value" not in planned.stdout + planned.stderr
    refused = _pytest_contracts("--api-key", ALICE, "--max-streams", "lots")
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.stdout + refused.stderr
    assert "pytest contracts: --max-streams 'lots': expected a whole number >= 0" in refused.stderr
    assert "Traceback" not in refused.stderr
