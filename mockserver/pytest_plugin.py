"""A live recoup-mock in your pytest suite: the ``recoup_mock`` fixture.

Installed with the package (entry point ``pytest11``: ``recoup_mock``), so it is there as soon as
``recoup-mock`` is installed in the environment that runs pytest. One server runs per test session, on
a free loopback port (a real uvicorn in a thread, started on first use). Every test gets a world of
its own on it (the ``x-mock-world`` header, named from the test's node id, fresh for the test), so
tests never see each other's runs, journal or queued scenarios; ``recoup_mock`` hands you a
`RecoupMock` whose ``headers()`` and admin calls carry that world::

    import httpx

    def test_idle_chat_has_nothing_to_resume(recoup_mock):
        r = httpx.get(recoup_mock.url(f"/api/chat/{recoup_mock.CHAT_IDLE}/stream"), headers=recoup_mock.headers())
        assert r.status_code == 204

    def test_rate_limited(recoup_mock):
        recoup_mock.next_scenario("http-429")
        ...  # drive your front end or client; its next stream request gets 429
        assert recoup_mock.requests(path="/api/chat", status=429)

Settings: the server runs at speed 0 (no waits) and without the access log, unless the environment
(``RECOUP_MOCK_SPEED=1``, ...) or your own ``recoup_mock_settings`` fixture says otherwise::

    @pytest.fixture(scope="session")
    def recoup_mock_settings():
        return {"speed": 1.0}          # any `mockserver.Settings` field

Parallel workers (pytest-xdist) can share one server: start ``recoup-mock serve`` once and set
``RECOUP_MOCK_URL=http://127.0.0.1:4010`` (and ``RECOUP_MOCK_ADMIN_TOKEN`` if it has one); the plugin
then starts no server of its own. ``@pytest.mark.recoup_mock_world(None)`` puts a test in the default
world instead (what a client without the header sees), ``recoup_mock_world("name")`` in a named one.

This module imports only the standard library and pytest; the server itself (uvicorn, the app) is
imported when a test first asks for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from .serving import ServedApp
from .state import fixture_ids

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["RecoupMock", "RecoupMockServer", "recoup_mock", "recoup_mock_server", "recoup_mock_settings",
           "world_name"]

#: A running recoup-mock to use instead of starting one (e.g. one ``recoup-mock serve`` for every
#: pytest-xdist worker): its base URL.
URL_ENV = "RECOUP_MOCK_URL"
WORLD_HEADER = "x-mock-world"
#: What the plugin changes from `Settings`' own defaults (the environment and `recoup_mock_settings` win).
PLUGIN_DEFAULTS: dict[str, Any] = {"speed": 0.0, "access_log": False}


class RecoupMockServer(ServedApp):
    """A real uvicorn serving recoup-mock on a loopback port, in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(None, host=settings.host, port=settings.port)

    def start(self, timeout: float = 30.0) -> RecoupMockServer:
        from .app import create_app

        self.app = create_app(self.settings)
        super().start(timeout)
        return self


class RecoupMock:
    """The running mock, as a test sees it: its URL, the admin API, and the fixture world's ids."""

    # The fixture world's ids (mockserver.state.fixture_ids), where a test has them at hand.
    ALICE = fixture_ids.ALICE
    BOB = fixture_ids.BOB
    SESSION_READY = fixture_ids.SESSION_READY
    SESSION_NO_SANDBOX = fixture_ids.SESSION_NO_SANDBOX
    SESSION_BOB = fixture_ids.SESSION_BOB
    CHAT_IDLE = fixture_ids.CHAT_IDLE
    CHAT_BUSY = fixture_ids.CHAT_BUSY
    CHAT_BOB = fixture_ids.CHAT_BOB
    CHAT_NO_SANDBOX = fixture_ids.CHAT_NO_SANDBOX
    PINNED_RUN = fixture_ids.PINNED_RUN

    def __init__(self, base_url: str, *, admin_token: str | None = None, world: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        #: The world this test acts in (sent as ``x-mock-world``); None for the default world.
        self.world = world

    def __repr__(self) -> str:
        return f"RecoupMock({self.base_url!r}, world={self.world!r})"

    def world_headers(self) -> dict[str, str]:
        """``{"x-mock-world": NAME}`` for this test's world (empty in the default world): for a client
        whose other headers you set yourself (a ``useChat`` transport, Playwright's ``extraHTTPHeaders``)."""
        return {} if self.world is None else {WORLD_HEADER: self.world}

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (``"/api/chat"`` -> ``"http://127.0.0.1:PORT/api/chat"``)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def headers(self, key: str | None = None, *, scenario: str | None = None, scheme: str = "x-api-key",
                json: bool = False) -> dict[str, str]:
        """Request headers: the API key (Alice's by default) as ``x-api-key`` or ``bearer``, this test's
        world, and ``Prefer: scenario=NAME`` when a scenario is given."""
        key = self.ALICE if key is None else key
        if scheme == "x-api-key":
            headers = {"x-api-key": key, **self.world_headers()}
        elif scheme == "bearer":
            headers = {"authorization": f"Bearer {key}", **self.world_headers()}
        else:
            raise ValueError(f"scheme must be 'x-api-key' or 'bearer', not {scheme!r}")
        if scenario is not None:
            headers["prefer"] = f"scenario={scenario}"
        if json:
            headers["content-type"] = "application/json"
        return headers

    def chat_body(self, text: str = "Hello", *, chat: str | None = None, session: str | None = None) -> dict[str, Any]:
        """A ``POST /api/chat`` body: one user message, to the idle chat by default."""
        return {"chatId": chat or self.CHAT_IDLE, "sessionId": session or self.SESSION_READY,
                "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}]}

    # -- the admin API (/__mock/)

    def reset(self) -> dict[str, Any]:
        """``POST /__mock/reset`` of this test's world: cancel its runs, restore the fixture world, clear
        its journal and scenario queue. Other worlds (other tests, other workers) are untouched. The
        world keeps its profile (`use_profile`); each test starts in the server's."""
        return self._admin("POST", "/__mock/reset")

    def _start_fresh(self) -> dict[str, Any]:
        """What every test starts from: `reset`, and the server's own profile back (``POST
        /__mock/worlds/NAME`` with no body), so a `use_profile` in one test never reaches the next
        test in the same world (the default world, a named one)."""
        return self._admin("POST", f"/__mock/worlds/{self.world or 'default'}")

    def requests(self, **filters: str | int) -> list[dict[str, Any]]:
        """This world's journal (``GET /__mock/requests``), oldest first. Filters: ``method``, ``path`` (substring),
        ``status``, ``scenario``, ``run_id`` (or ``runId``) and ``limit``."""
        query = {("runId" if name == "run_id" else name): str(value) for name, value in filters.items()}
        path = "/__mock/requests" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        entries: list[dict[str, Any]] = self._admin("GET", path)["requests"]
        return entries

    def next_scenario(self, name: str, count: int = 1) -> list[str]:
        """Queue ``name`` for the next ``count`` stream requests (``POST /__mock/scenarios/next``);
        returns the whole queue. A request's own ``Prefer`` header or ``[scenario:NAME]`` still wins."""
        queued: list[str] = self._admin("POST", "/__mock/scenarios/next", {"name": name, "count": count})["queued"]
        return queued

    def use_profile(self, profile: str) -> dict[str, Any]:
        """Answer as ``profile`` from now on in this test's world (``documented`` or ``deployed``, the
        deployed server's behaviour: docs/drift.md); the world starts fresh (``POST /__mock/worlds/NAME``)."""
        return self._admin("POST", f"/__mock/worlds/{self.world or 'default'}", {"profile": profile})

    def scenarios(self) -> list[dict[str, Any]]:
        """``GET /__mock/scenarios``: each scenario's name, description, kind and target clients."""
        found: list[dict[str, Any]] = self._admin("GET", "/__mock/scenarios")["scenarios"]
        return found

    def _admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        headers = {"accept": "application/json", **self.world_headers()}
        if self.admin_token is not None:
            headers["x-mock-admin-token"] = self.admin_token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result: dict[str, Any] = json.loads(response.read() or b"{}")
                return result
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"recoup-mock admin call {method} {path} answered {exc.code}: {detail}") from None


def build_settings(overrides: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the plugin's server: `PLUGIN_DEFAULTS`, then ``RECOUP_MOCK_*`` variables, then
    ``overrides``. The host is loopback and the port free unless ``overrides`` say otherwise."""
    from .settings import Settings

    environ = os.environ if environ is None else environ
    defaults = {name: value for name, value in PLUGIN_DEFAULTS.items()
                if f"RECOUP_MOCK_{name.upper()}" not in environ}
    # The environment's host and port are the CLI's (`make serve`), not the test server's.
    values = {"host": "127.0.0.1", "port": 0, **defaults, **dict(overrides)}
    return Settings.from_env(environ, **values)


@pytest.fixture(scope="session")
def recoup_mock_settings() -> dict[str, Any]:
    """Override to change the session's server: return `mockserver.Settings` fields, e.g. ``{"speed": 1.0}``."""
    return {}


@pytest.fixture(scope="session")
def recoup_mock_server(recoup_mock_settings: Mapping[str, Any]) -> Iterator[RecoupMockServer]:
    """The session's server (started on first use, stopped at the end of the session)."""
    server = RecoupMockServer(build_settings(recoup_mock_settings)).start()
    try:
        yield server
    finally:
        server.stop()


def world_name(node_id: str) -> str:
    """A world name for a test: readable (its name and parameters, in the allowed characters) and unique
    (a hash of the whole node id), within the rule of 1-64 characters of ``[A-Za-z0-9._-]``."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", node_id.rsplit("::", 1)[-1]).strip("-")[:40].rstrip("-")
    digest = hashlib.sha256(node_id.encode()).hexdigest()[:12]
    return f"{readable}-{digest}" if readable else f"t-{digest}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "recoup_mock_world(name): run this test's recoup_mock in the world NAME (None: the default "
                   "world, shared by every test that opts into it) instead of its own world")


@pytest.fixture
def recoup_mock(request: pytest.FixtureRequest) -> RecoupMock:
    """recoup-mock for this test, in a world of its own (reset for it), or the one ``RECOUP_MOCK_URL`` names.

    Each test gets its own world (``x-mock-world``, named from its node id): tests cannot see each
    other's runs, journal or queued scenarios, so they can run in parallel (pytest-xdist) against one
    server. ``@pytest.mark.recoup_mock_world(None)`` opts into the default world (and resets it).
    The world starts in the server's profile, whatever an earlier test in it chose."""
    marker = request.node.get_closest_marker("recoup_mock_world")
    world = world_name(request.node.nodeid) if marker is None else (marker.args[0] if marker.args else None)
    external = os.environ.get(URL_ENV, "").strip()
    if external:
        mock = RecoupMock(external, admin_token=os.environ.get("RECOUP_MOCK_ADMIN_TOKEN") or None, world=world)
    else:
        server: RecoupMockServer = request.getfixturevalue("recoup_mock_server")
        if not server.settings.admin:
            raise pytest.UsageError("recoup_mock needs the admin API; do not set admin=False in recoup_mock_settings")
        mock = RecoupMock(server.base_url, admin_token=server.settings.admin_token, world=world)
    mock._start_fresh()
    return mock
