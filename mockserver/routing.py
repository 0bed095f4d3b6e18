"""Finding a request's operation: the app's routes, indexed once, so a request does not walk them.

Starlette's router tries every route in order with a regular expression each, and wraps each call
in two layers of exception handling; on the hot path that is most of what a request costs after
uvicorn. `RouteIndex` answers the same question (which route takes ``METHOD path``, with which
path parameters) the way the router would, and the middleware calls the route's endpoint directly
(`mockserver.middleware`). Whatever the index does not find (a path no route has, a method a path
does not take) goes on to Starlette's router, which answers it as it always has (404, 405).

Precedence is the router's: the first route in order that matches both path and method. A path that
is some route's literal path is resolved when the index is built (every route's pattern tried on it
then); any other path can only be matched by a templated route, tried in order, and the answer kept
in a bounded cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], Awaitable[Response]]
#: What a request resolves to: its route's endpoint and path parameters.
Found = tuple[Endpoint, dict[str, Any]]
#: How many resolved templated paths are kept (ids make paths many; the cache is dropped when full).
CACHE_SIZE = 4096


class RouteIndex:
    """The routes of the app by method and path (`rebuild` after the route list changes)."""

    def __init__(self) -> None:
        self._literal: dict[tuple[str, str], Found] = {}
        self._literal_paths: frozenset[str] = frozenset()
        self._templated: list[tuple[Any, frozenset[str], Endpoint]] = []
        self._cache: dict[tuple[str, str], Found | None] = {}
        self._served = True

    def rebuild(self, routes: Sequence[BaseRoute]) -> None:
        """Index ``routes`` (the app's, in the router's order). A route that is not a plain `Route`
        (a mount, a websocket) would need the router's own logic: then nothing is served from here."""
        self._served = all(isinstance(r, Route) for r in routes)
        plain = [r for r in routes if isinstance(r, Route)]
        templated = [(r.path_regex, frozenset(r.methods or ()), r.endpoint) for r in plain if r.param_convertors]
        literal: dict[tuple[str, str], Found] = {}
        paths = {r.path for r in plain if not r.param_convertors}
        for path in paths:
            for route in plain:  # the router's order: the first route to match path and method wins
                match = route.path_regex.match(path)
                if match is None:
                    continue
                for method in route.methods or ():
                    literal.setdefault((method, path), (route.endpoint, match.groupdict()))
        self._literal, self._literal_paths, self._templated = literal, frozenset(paths), templated
        self._cache = {}

    def find(self, method: str, path: str) -> Found | None:
        """The endpoint and path parameters of ``METHOD path``, or None for the router to answer. The
        parameters are the index's own: copy them before handing them to a request."""
        if not self._served:
            return None
        key = (method, path)
        found = self._literal.get(key)
        if found is not None or path in self._literal_paths:
            return found
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = None
        for regex, methods, endpoint in self._templated:
            match = regex.match(path)
            if match is not None and method in methods:
                found = (endpoint, match.groupdict())
                break
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = found
        return found

