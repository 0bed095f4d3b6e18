"""The mock's runtime state: what is loaded from files, and the registry of worlds built from it.

`MockState` is created by `create_app` and hung on ``app.state.mock``. Settings are fixed; the
`Catalog` (specs, fixtures, scripts) is loaded at start and swapped whole by a reload
(``serve --watch``); everything a request can change lives in a `World` (see `mockserver.state.worlds`),
which the middleware picks from the ``x-mock-world`` header and handlers reach as ``call.world``.
"""

from __future__ import annotations

from ..routing import RouteIndex
from ..settings import Settings
from ..streams.scenarios import Scenario
from .catalog import Catalog
from .events import EventBus
from .worlds import Worlds


class MockState:
    """Settings, the current catalog, the worlds, and the last reload that was refused."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        #: What happens, pushed to the inspector (``GET /__mock/events``).
        self.bus = EventBus()
        self.worlds = Worlds(settings, catalog, self.bus)
        #: Why the last reload was refused (file, line, field), until a reload succeeds.
        self.reload_error: str | None = None
        #: How many reloads have been served (``serve --watch``).
        self.reloads = 0
        #: ``"METHOD /path"`` of the spec's operations that no handler knows (set with the routes).
        self.generic_operations: list[str] = []
        #: The name each operation of the chat API goes by (its handler's operationId, else its key), as
        #: a request carries it (`Call.operation_id`) and a scenario is queued for it (set with the routes).
        self.operation_names: list[str] = []
        #: The app's routes by method and path: the middleware finds a request's endpoint here
        #: (rebuilt with the routes: `create_app`, a reload).
        self.routes = RouteIndex()

    @property
    def scenarios(self) -> dict[str, Scenario]:
        return self.catalog.fixtures.scenarios

    def swap(self, catalog: Catalog) -> None:
        """Serve ``catalog`` from the next request on."""
        self.catalog = catalog
        self.worlds.swap(catalog)
        self.reload_error = None
        self.reloads += 1
