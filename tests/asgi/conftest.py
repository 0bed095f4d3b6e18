"""Fixtures of the in-process tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from support import SCHEMES, Scheme, assert_json

from mockserver import Settings, create_app


@pytest.fixture(params=sorted(SCHEMES))
def scheme(request: pytest.FixtureRequest) -> Scheme:
    """Each credential scheme in turn: a function from a key to the request headers."""
    return SCHEMES[request.param]


@pytest.fixture(scope="module")
def deployed_app() -> Iterator[TestClient]:
    """A mock started with ``--profile deployed``, one per test module."""
    with TestClient(create_app(Settings(speed=0, access_log=False, profile="deployed"))) as client:
        yield client


@pytest.fixture
def deployed(deployed_app: TestClient) -> TestClient:
    """The deployed mock with every world dropped, for one test."""
    assert_json(deployed_app.post("/__mock/reset?all=true"))
    return deployed_app
