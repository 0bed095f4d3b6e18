"""Shared fixtures: the in-process client (finite responses) and live servers (streams, timing)."""

from __future__ import annotations

from collections.abc import Iterator

# Imported here, before any test, rather than on httpx's first request: pytester's fixture puts
# sys.modules back as it was when it began, so an httpcore first imported during a pytester test
# would be imported again afterwards, with new exception classes that httpx (which keeps the
# first ones, to turn them into its own) no longer recognises: a dropped stream would then raise
# httpcore.RemoteProtocolError instead of httpx.RemoteProtocolError in every later test.
import httpcore  # noqa: F401
import httpx
import pytest
from starlette.testclient import TestClient
from support import LiveServer, live_server

from mockserver import Settings, create_app


@pytest.fixture(scope="session")
def asgi_app_session() -> Iterator[TestClient]:
    """One in-process app at full speed (speed 0) for the whole session; reset per test below."""
    with TestClient(create_app(Settings(speed=0, access_log=False)), raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def client(asgi_app_session: TestClient) -> TestClient:
    """In-process client, reset to the fixture world. Bodies are buffered: finite responses only."""
    asgi_app_session.post("/__mock/reset").raise_for_status()
    return asgi_app_session


@pytest.fixture(scope="session")
def paced_server() -> Iterator[LiveServer]:
    """A live uvicorn at real speed (scenario pacing applies)."""
    with live_server(speed=1.0) as server:
        yield server


@pytest.fixture
def live(paced_server: LiveServer) -> LiveServer:
    httpx.post(paced_server.base_url + "/__mock/reset").raise_for_status()
    return paced_server
