"""The plugin's server lives inside the user's test process: it must leave that process as it was.

`create_app` and the plugin's server change nothing process-wide: no ``gc.freeze()`` (which would
freeze the user's whole heap) and no logging set-up (handlers, filters, levels, level names).
``recoup-mock serve``, whose process is its own, does both.
"""

from __future__ import annotations

import pytest
from test_pytest_plugin import run_foreign

pytest_plugins = ["pytester"]

SIDE_EFFECTS_SUITE = '''
import gc
import logging

import httpx


def own(handlers):
    """The handlers, less pytest's capture handlers (it swaps those per test phase)."""
    return [h for h in handlers if not type(h).__module__.startswith("_pytest")]


def snapshot():
    loggers = {"": logging.getLogger()}
    loggers.update({name: logger for name, logger in logging.Logger.manager.loggerDict.items()
                    if isinstance(logger, logging.Logger)})
    return {
        "levels": dict(logging._levelToName),
        "loggers": {name: (logger.level, own(logger.handlers), list(logger.filters), logger.propagate,
                           logger.disabled) for name, logger in loggers.items()},
    }


def interesting(shot):
    """Loggers created since the first snapshot (uvicorn's, on import) count only if configured."""
    return {name: state for name, state in shot["loggers"].items()
            if name in BEFORE["loggers"] or state != (logging.NOTSET, [], [], True, False)}


BEFORE = snapshot()
FROZEN = gc.get_freeze_count()


def test_serve_a_stream_a_drop_and_an_error(recoup_mock):
    r = httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    assert r.status_code == 200
    recoup_mock.next_scenario("disconnect")
    try:
        httpx.post(recoup_mock.url("/api/chat"), headers=recoup_mock.headers(), json=recoup_mock.chat_body())
    except httpx.TransportError:
        pass
    assert httpx.get(recoup_mock.url("/nope")).status_code == 404


def test_the_process_is_as_it_was(recoup_mock_server):
    assert recoup_mock_server.server is not None and recoup_mock_server.server.started
    assert gc.get_freeze_count() == FROZEN
    now = snapshot()
    assert now["levels"] == BEFORE["levels"]
    assert interesting(now) == {name: state for name, state in BEFORE["loggers"].items()}
'''


def test_the_plugin_changes_nothing_process_wide(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_side_effects=SIDE_EFFECTS_SUITE)
    # With every plugin of this venv, as before: its first snapshot then already has the loggers that importing
    # requests and urllib3 adds (NullHandlers), which the server's start imports (through openapi-core) when
    # nothing did before it.
    run_foreign(pytester, every_plugin=True).assert_outcomes(passed=2)
