"""recoup-mock: a spec-driven mock and contract-test server for the Recoup chat API."""

from .app import create_app
from .errors import ApiError, ConfigError, FixtureError, MockServerError, ScenarioError, SpecError
from .scenarios import Scenario, load_scenarios
from .settings import Settings

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
