"""Fixtures for brain tests: the seeded demo hotel, settings in New York time, a fake LLM endpoint."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.append(
    str(Path(__file__).parent)
)  # for brainkit; appended so `conftest` still means tests/conftest.py

from brainkit import TODAY, FakeChatServer  # noqa: E402

from ari_app.settings import HotelSettings, Settings  # noqa: E402
from models.seed import seed_demo_hotel  # noqa: E402


@pytest.fixture
def settings() -> Settings:
    return Settings(
        hotel=HotelSettings(timezone="America/New_York", payment_link_secret=SecretStr("test-payment-secret"))
    )


@pytest.fixture
async def hotel(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await seed_demo_hotel(sqlite_sessions, today=TODAY)
    yield sqlite_sessions


@pytest.fixture
async def any_hotel(
    db_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await seed_demo_hotel(db_sessions, today=TODAY)
    yield db_sessions


@pytest.fixture
async def llm_server() -> AsyncIterator[FakeChatServer]:
    server = FakeChatServer()
    await server.start()
    yield server
    await server.stop()
