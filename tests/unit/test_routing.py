"""The route index answers as Starlette's router would: the same endpoint, the same path parameters."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.responses import Response
from starlette.routing import Match, Route

from mockserver.app import create_app
from mockserver.routing import CACHE_SIZE, RouteIndex
from mockserver.settings import Settings


def _router_choice(routes: list[Any], method: str, path: str) -> tuple[Any, dict[str, Any]] | None:
    """What Starlette's router does: the first FULL match in order (a PARTIAL one is its 405)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return child["endpoint"], child["path_params"]
    return None


async def _ok(request: Any) -> Response:
    return Response()


async def _other(request: Any) -> Response:
    return Response()


def _paths(routes: list[Route]) -> list[str]:
    """Each route's literal path, each template filled with an id and with a value like another
    route's literal segment, and paths no route has."""
    paths = ["/", "/nothing", "/api/chat/", "/api/chat/runs/", "/api/chats/x/y/z"]
    for route in routes:
        paths.append(route.path)
        for value in ("abc", "runs", "stream", "messages", "a-b_c.d"):
            paths.append(re.sub(r"\{[^}]+\}", value, route.path))
    return paths


def test_the_index_finds_what_the_router_finds_for_every_route_of_the_app() -> None:
    app = create_app(Settings(speed=0))
    routes = [r for r in app.router.routes if isinstance(r, Route)]
    index = RouteIndex()
    index.rebuild(routes)
    methods = {m for r in routes for m in (r.methods or ())} | {"PUT", "TRACE"}
    checked = 0
    for path in _paths(routes):
        for method in sorted(methods):
            expected = _router_choice(routes, method, path)
            assert index.find(method, path) == expected, (method, path)
            checked += expected is not None
    assert checked > len(routes)  # the comparison did look at real matches, not only at misses


def test_an_earlier_templated_route_wins_over_a_later_literal_one_as_in_the_router() -> None:
    routes = [Route("/items/{id}", _ok, methods=["GET"]), Route("/items/new", _other, methods=["GET", "POST"])]
    index = RouteIndex()
    index.rebuild(routes)
    assert index.find("GET", "/items/new") == (_ok, {"id": "new"})
    assert index.find("POST", "/items/new") == (_other, {})
    assert index.find("HEAD", "/items/7") == (_ok, {"id": "7"})  # Starlette's GET routes take HEAD
    assert index.find("DELETE", "/items/7") is None  # the router's 405


def test_a_rebuild_serves_the_new_routes_and_forgets_the_cached_answers() -> None:
    index = RouteIndex()
    index.rebuild([Route("/a/{x}", _ok, methods=["GET"])])
    assert index.find("GET", "/a/1") == (_ok, {"x": "1"})
    index.rebuild([Route("/a/{x}", _other, methods=["GET"])])
    assert index.find("GET", "/a/1") == (_other, {"x": "1"})


@pytest.mark.parametrize("extra", [0, 1, 3])
def test_the_cache_stays_bounded(extra: int) -> None:
    index = RouteIndex()
    index.rebuild([Route("/a/{x}", _ok, methods=["GET"])])
    for i in range(CACHE_SIZE + extra):
        assert index.find("GET", f"/a/{i}") == (_ok, {"x": str(i)})
    assert len(index._cache) <= CACHE_SIZE
