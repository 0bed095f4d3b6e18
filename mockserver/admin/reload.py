"""Live editing: ``serve --watch`` reloads the fixtures and the spec as they are saved.

Saved files are loaded whole into a new `Catalog` (off the event loop) and swapped in for the next
request; a file that does not load is refused whole, the last good catalog stays in service, and
one log line names the file, the line or field, with the message ``recoup-mock validate`` gives.
Runs in flight keep the script they started with, and open readers are not touched. A changed
``world.yaml`` is live state's blueprint: each world picks it up at its next reset, so no client's
state is rewritten under it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from ..errors import MockServerError
from ..state.app_state import MockState
from ..state.catalog import Catalog, load_catalog

log = logging.getLogger("recoup_mock")
WATCHED_SUFFIXES = (".yaml", ".yml", ".json")
#: Milliseconds of quiet before a burst of saves is loaded (an editor writes a file in several steps).
DEBOUNCE_MS = 150


def changes(old: Catalog, new: Catalog) -> list[str]:
    """What a reload changed, for the log line and the inspector."""
    said: list[str] = []
    before, after = old.fixtures.scenarios, new.fixtures.scenarios
    for verb, names in (("added", sorted(set(after) - set(before))), ("removed", sorted(set(before) - set(after))),
                        ("changed", sorted(n for n in set(before) & set(after) if before[n] != after[n]))):
        if names:
            said.append(f"scenario(s) {verb}: {', '.join(names)}")
    if old.fixtures.blueprint != new.fixtures.blueprint:
        said.append("world.yaml changed: each world picks it up at its next reset")
    if old.specs.path != new.specs.path or old.specs.of_documented().document != new.specs.of_documented().document:
        said.append("the spec changed")
    return said


#: The app's routes for a catalog (`mockserver.app.routes_for`, passed in: the app depends on us).
RouteBuilder = Callable[[Catalog], Sequence[BaseRoute]]


async def reload(state: MockState, app: Starlette, build_routes: RouteBuilder) -> bool:
    """Load the files again and serve them from the next request; False (and the reason logged and
    kept in ``state.reload_error``) when they do not load."""
    try:
        catalog = await asyncio.to_thread(load_catalog, state.settings)
        routes = list(build_routes(catalog))  # a spec the handlers cannot serve (ids, parameter names) is refused here
    except MockServerError as exc:
        state.reload_error = str(exc)
        log.warning("recoup-mock: refused the edit, still serving the last good version: %s", exc)
        state.bus.publish({"type": "reload", "reloads": state.reloads, "error": state.reload_error, "changes": []})
        return False
    said = changes(state.catalog, catalog)
    state.swap(catalog)
    app.router.routes[:] = routes
    state.routes.rebuild(app.router.routes)
    log.warning("recoup-mock: reloaded (%s)", "; ".join(said) or "no change that matters")
    state.bus.publish({"type": "reload", "reloads": state.reloads, "error": None, "changes": said})
    return True


def watched_paths(state: MockState) -> list[Path]:
    settings = state.settings
    return sorted({settings.fixtures.resolve(), settings.spec.resolve().parent, settings.admin_spec.resolve().parent})


async def watch(state: MockState, app: Starlette, build_routes: RouteBuilder, stop: asyncio.Event) -> None:
    """Reload whenever a YAML or JSON file under the fixtures or the spec's folder is saved, until ``stop``."""
    from watchfiles import awatch

    paths = watched_paths(state)
    log.warning("recoup-mock: watching %s for changes", ", ".join(map(str, paths)))
    async for _ in awatch(*paths, stop_event=stop, debounce=DEBOUNCE_MS, step=50,
                          watch_filter=lambda _change, path: path.endswith(WATCHED_SUFFIXES)):
        await reload(state, app, build_routes)
