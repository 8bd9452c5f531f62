"""Shared fixtures: real databases (a SQLite file, and the local PostgreSQL when it answers).

PostgreSQL tests run in a schema of their own, created for the test and dropped after, so that test
files (and two CI runs) sharing the `test` database never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from testsupport import FIXTURES, PG_URL, SHARED_ASTERISK, drop_pg_schema, make_pg_schema_engine

from models import Base
from models.db import make_engine, session_factory

__all__ = ["FIXTURES", "PG_URL", "SHARED_ASTERISK"]

# Property tests check behaviour, not speed: a 2-core CI machine running other suites must not turn
# one slow example into a DeadlineExceeded failure (benchmarks under bench/ measure speed).
hypothesis_settings.register_profile("hotel-operator", deadline=None)
hypothesis_settings.load_profile("hotel-operator")


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    engine, schema = await make_pg_schema_engine()
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await drop_pg_schema(engine, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The same test on a real SQLite file and on the real PostgreSQL (tables created, then removed)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
        await engine.dispose()
    else:
        engine, schema = await make_pg_schema_engine()
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
        await drop_pg_schema(engine, schema)


@pytest.fixture
def db_sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db_engine)


@pytest.fixture
def sqlite_sessions(sqlite_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(sqlite_engine)
