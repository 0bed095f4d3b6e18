"""Credentials: exactly one of ``x-api-key`` or ``Authorization: Bearer``, resolved to an account.

As deployed (recoup-server-behaviour.md §2): both or neither is a 401, a bearer token that is an
API key is checked like one, and an unknown key is a 401. Keys never reach a log in full.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TypeVar

from .errors import ApiError

A = TypeVar("A")

EXACTLY_ONE = "Exactly one of x-api-key or Authorization must be provided"


def credential(headers: Mapping[str, str]) -> str:
    """The raw credential of a request, or raise a 401 `ApiError` saying what is wrong."""
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if (api_key is None) == (authorization is None):
        raise ApiError(401, EXACTLY_ONE)
    if api_key is not None:
        if not api_key.strip():
            raise ApiError(401, "The x-api-key header is empty")
        return api_key.strip()
    assert authorization is not None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization header with Bearer token required")
    return token.strip()


def authenticate(headers: Mapping[str, str], accounts_by_key: Mapping[str, A]) -> tuple[A, str]:
    """The account a request acts as, and its masked key for logs; 401 `ApiError` otherwise."""
    key = credential(headers)
    account = accounts_by_key.get(key)
    if account is None:
        raise ApiError(401, f"Unauthorized: unknown API key {mask(key)}")
    return account, mask(key)


@functools.lru_cache(maxsize=256)  # a world's few keys, masked for every request's journal entry
def mask(key: str) -> str:
    """``recoup_sk_test_alice`` -> ``recoup_sk_…lice``: enough to tell keys apart, never the key."""
    prefix = "recoup_sk_" if key.startswith("recoup_sk_") else ""
    tail = key[len(prefix):]
    return f"{prefix}…{tail[-4:]}" if len(tail) > 6 else f"{prefix}…"
