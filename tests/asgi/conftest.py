"""Fixtures of the in-process tests."""

from __future__ import annotations

import pytest
from support import SCHEMES, Scheme


@pytest.fixture(params=sorted(SCHEMES))
def scheme(request: pytest.FixtureRequest) -> Scheme:
    """Each credential scheme in turn: a function from a key to the request headers."""
    return SCHEMES[request.param]
