"""The mock's runtime state: what was loaded once, and what a reset rebuilds.

`MockState` is created by `create_app` and hung on ``app.state.mock``; handlers reach it through
the request. A reset cancels every run, then builds a fresh `Store` and `RunManager` from the
same fixture world and seed, so the same requests give the same ids and bytes again.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .fixtures import Fixtures
from .runs import RunManager
from .scenarios import Scenario
from .settings import Settings
from .store import Journal, Store


class MockState:
    """Loaded once: settings, fixtures. Rebuilt by `reset`: store, runs, journal."""

    def __init__(self, settings: Settings, fixtures: Fixtures) -> None:
        self.settings = settings
        self.fixtures = fixtures
        self.journal = Journal(settings.journal_size)
        self._lock = asyncio.Lock()
        #: One-shot scenario choices for the next stream requests (admin `queueScenarios`).
        self.queued_scenarios: deque[str] = deque()
        self.store, self.runs = self._build()

    @property
    def scenarios(self) -> dict[str, Scenario]:
        return self.fixtures.scenarios

    def _build(self) -> tuple[Store, RunManager]:
        store = Store(self.fixtures.blueprint, self.settings.seed)
        runs = RunManager(store, self.fixtures.scenarios, self.settings)
        for chat_def in self.fixtures.blueprint.chats:
            if chat_def.pinned_run is not None:
                runs.pin(store.chats[chat_def.id], chat_def)
        return store, runs

    async def reset(self) -> int:
        """Back to the fixture world. Returns how many live runs were cancelled."""
        async with self._lock:
            cancelled = self.runs.live_count()
            await self.runs.shutdown()
            self.store, self.runs = self._build()
            self.journal.clear()
            self.queued_scenarios.clear()
            return cancelled
