"""`recoup-mock serve` starts on what it serves: libraries it only needs for a refused request, another
command or another profile are not imported before its first answer (start-up time, issue 22).

Read from the server's own ``-X importtime`` report (``PYTHONPROFILEIMPORTTIME``), not from timings: the
modules a start-up loads do not depend on how busy the machine is.
"""

from __future__ import annotations

import re

import httpx
import pytest
from support import ALICE, CHAT_IDLE, ServerProcess, assert_error, assert_no_content

#: Top-level modules (and the package's own modules) that serving the documented profile does not use
#: until a request needs them: openapi-core (and what it brings) explains a refused value, jsonschema a
#: refused fixture chunk, the overlay library derives the deployed profile's contract; the rest (the
#: contract suite's flags too) belong to other commands.
NOT_AT_STARTUP = ("openapi_core", "jsonschema", "jsonschema_path", "openapi_spec_validator", "pydantic_settings",
                  "werkzeug", "requests", "oas_patch", "schemathesis", "hypothesis", "httpx", "mockserver.proxy",
                  "mockserver.contracts")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", re.MULTILINE)


def imported(log: str) -> set[str]:
    """The modules an ``-X importtime`` report in ``log`` names."""
    return set(IMPORTED.findall(log))


def loaded_of(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


@pytest.fixture
def importtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")


@pytest.mark.usefixtures("importtime")
def test_serve_answers_its_first_request_without_loading_what_it_does_not_use() -> None:
    server = ServerProcess()
    try:
        assert_no_content(httpx.get(f"{server.base_url}/api/chat/{CHAT_IDLE}/stream",
                                    headers={"x-api-key": ALICE, "prefer": "code=204"}))
        at_startup = imported(server.log())
        # A refused value is explained by openapi-core, loaded then: the message names the rule.
        refused = httpx.post(f"{server.base_url}/api/sessions", headers={"x-api-key": ALICE}, json={"title": 7})
        assert_error(refused, 400, "body.title")
    finally:
        server.stop()
    assert "mockserver.app" in at_startup  # the report is there and it covers the start-up
    assert loaded_of(at_startup, NOT_AT_STARTUP) == []
    assert "openapi_core" in imported(server.log())


@pytest.mark.usefixtures("importtime")
def test_serve_with_the_deployed_profile_loads_the_overlay_library_without_its_command_line() -> None:
    server = ServerProcess("--profile", "deployed")
    try:
        assert_no_content(httpx.get(f"{server.base_url}/api/chat/{CHAT_IDLE}/stream",
                                    headers={"x-api-key": ALICE, "prefer": "code=204"}))
        at_startup = imported(server.log())
    finally:
        server.stop()
    assert "jsonpath_ng" in at_startup  # the overlay was applied
    # oas-patch's package (its CLI, differ and validator) is not: only its overlay module is run.
    assert loaded_of(at_startup, ("oas_patch", "deepdiff", "pydantic", "click.testing", "rich", *NOT_AT_STARTUP)) == []
