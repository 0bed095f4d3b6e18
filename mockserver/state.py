"""The mock's runtime state: what is loaded once, and the registry of worlds built from it.

`MockState` is created by `create_app` and hung on ``app.state.mock``. Settings and fixtures are
loaded once and shared; everything a request can change lives in a `World` (see `mockserver.worlds`),
which the middleware picks from the ``x-mock-world`` header and handlers reach as ``call.world``.
"""

from __future__ import annotations

from .fixtures import Fixtures
from .profiles import Specs
from .scenarios import Scenario
from .settings import Settings
from .worlds import Worlds


class MockState:
    """Loaded once: settings, fixtures and specs. Per world (`worlds`): profile, store, runs, journal, queue."""

    def __init__(self, settings: Settings, fixtures: Fixtures, specs: Specs) -> None:
        self.settings = settings
        self.fixtures = fixtures
        #: The chat contract of each profile.
        self.specs = specs
        self.worlds = Worlds(settings, fixtures)

    @property
    def scenarios(self) -> dict[str, Scenario]:
        return self.fixtures.scenarios
