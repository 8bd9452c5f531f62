"""Fixtures of the Realtime bridge tests: a call row in a real SQLite store and a session over it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).parent))

from realtimesupport import FakeCallSession  # noqa: E402

from ari_app.session import CallInfo  # noqa: E402
from models.store import CallStore  # noqa: E402

SessionMaker = Callable[..., "FakeCallSession"]


@pytest.fixture
def store(sqlite_sessions: async_sessionmaker[AsyncSession]) -> CallStore:
    return CallStore(sqlite_sessions)


@pytest.fixture
async def call_info(store: CallStore) -> CallInfo:
    row = await store.open_call(
        session_id="rt-1", channel_id="chan-rt-1", caller_id="+15550100", brain="realtime"
    )
    return CallInfo(session_id="rt-1", call_row_id=row, channel_id="chan-rt-1", caller_number="+15550100")
