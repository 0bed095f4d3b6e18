"""pytester's fixture puts ``sys.modules`` back as it found it when its test ends: a module first imported
during such a test would be imported again by the next one, a second copy. For httpcore that breaks httpx,
which keeps the exception classes of the first copy to turn them into its own (a dropped stream then raises
``httpcore.RemoteProtocolError`` in every later test); ``tests/conftest.py`` imports it before any test."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

pytest_plugins = ["pytester"]

_IMPORTED: dict[str, ModuleType] = {}


def test_a_pytester_test_that_makes_the_first_request(pytester: pytest.Pytester) -> None:
    import httpcore  # what httpx does on its first request, when no test has made one yet

    _IMPORTED["httpcore"] = httpcore


def test_the_next_test_has_the_same_httpcore() -> None:
    assert sys.modules.get("httpcore") is _IMPORTED["httpcore"], (
        "httpcore was imported again after a pytester test: httpx no longer maps its errors")
