"""recoup-mock: a spec-driven mock and contract-test server for the Recoup chat API.

The names below are imported on first use, so that importing a submodule (the pytest plugin is
loaded into every pytest session of an environment that has recoup-mock) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .errors import ApiError, ConfigError, FixtureError, MockServerError, ScenarioError, SpecError
    from .settings import Settings
    from .streams.scenarios import Scenario, load_scenarios

__all__ = [
    # Building a server
    "Settings",
    "create_app",
    # Scenarios
    "Scenario",
    "load_scenarios",
    # Errors
    "ApiError",
    "ConfigError",
    "FixtureError",
    "MockServerError",
    "ScenarioError",
    "SpecError",
]
_HOME = {
    "Settings": "settings", "create_app": "app", "Scenario": "scenarios", "load_scenarios": "scenarios",
    "ApiError": "errors", "ConfigError": "errors", "FixtureError": "errors", "MockServerError": "errors",
    "ScenarioError": "errors", "SpecError": "errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
