"""The bundled fixture world's well-known values, and the form of a run id, in one place.

``fixtures/world.yaml`` defines these rows; the README's "Fixture world" table documents them for
people. Everything in Python that names them (the pytest plugin's `RecoupMock`, the contract flows,
the tests) imports them from here. Standard library only: the pytest plugin and the contract suite
import this without loading the server. A test (tests/unit/test_fixture_ids.py) checks that they
agree with the bundled ``world.yaml``.
"""

from __future__ import annotations

import re

#: ``wrun_`` + a ULID in Crockford's base32 (no I, L, O, U): every run id the mock makes or accepts.
RUN_ID = re.compile(r"^wrun_[0-9A-HJKMNP-TV-Z]{26}$")
RUN_ID_RULE = "'wrun_' + 26 Crockford base32 characters"

#: API keys: Alice owns the fixtures the examples use; Bob is the other account (403s).
ALICE = "recoup_sk_test_alice"
BOB = "recoup_sk_test_bob"
ALICE_ACCOUNT = "a11ce000-0000-4000-8000-0000000000a1"
BOB_ACCOUNT = "b0b00000-0000-4000-8000-0000000000b0"

SESSION_READY = "5e551011-0000-4000-8000-000000000001"
SESSION_NO_SANDBOX = "5e551011-0000-4000-8000-000000000002"
SESSION_BOB = "5e551011-0000-4000-8000-000000000003"

CHAT_IDLE = "c4a70000-0000-4000-8000-000000000001"
#: Has a pinned run that never ends: POST answers 409, resume replays it.
CHAT_BUSY = "c4a70000-0000-4000-8000-000000000002"
CHAT_BOB = "c4a70000-0000-4000-8000-000000000003"
CHAT_NO_SANDBOX = "c4a70000-0000-4000-8000-000000000004"
PINNED_RUN = "wrun_01JQ8PNNED0BVSY00000000002"

#: Well-formed ids that name nothing in the fixture world.
UNKNOWN_SESSION = "5e551011-0000-4000-8000-0000000000ff"
UNKNOWN_CHAT = "c4a70000-0000-4000-8000-0000000000ff"
UNKNOWN_RUN = "wrun_" + "0" * 26
