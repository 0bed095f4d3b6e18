"""Shared fixtures: the in-process client (finite responses) and live servers (streams, timing)."""

from __future__ import annotations

from collections.abc import Iterator

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
