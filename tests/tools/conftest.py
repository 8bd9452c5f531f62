"""Fixtures for tool tests: the seeded demo hotel on SQLite and PostgreSQL, and a tool context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import HotelSettings, Settings
from ari_app.tools import ToolContext, load_facts
from models.seed import seed_demo_hotel
from models.store import CallStore

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday, 10:00 in New York


@pytest.fixture
def settings() -> Settings:
    return Settings(
        hotel=HotelSettings(timezone="America/New_York", payment_link_secret=SecretStr("s3cret-for-tests"))
    )


@pytest.fixture
async def hotel(
    db_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await seed_demo_hotel(db_sessions, today=NOW.date())
    yield db_sessions


@pytest.fixture
def make_ctx(hotel: async_sessionmaker[AsyncSession], settings: Settings) -> Callable[..., ToolContext]:
    facts = load_facts(settings.hotel)

    def build(
        session_id: str | None = "sess-1", caller: str = "+15551230134", call_id: int | None = None
    ) -> ToolContext:
        return ToolContext(
            sessions=hotel,
            settings=settings,
            facts=facts,
            store=CallStore(hotel),
            call_id=call_id,
            session_id=session_id,
            caller_number=caller,
            clock=lambda: NOW,
        )

    return build
