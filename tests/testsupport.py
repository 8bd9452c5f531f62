"""Helpers shared by test modules (importable as ``testsupport``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

PG_URL = os.environ.get("HOTEL_OPERATOR_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_ASTERISK = Path(__file__).resolve().parents[2] / "shared" / "asterisk"


async def _pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    engine = create_async_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any driver/network error means "not here"
        return f"PostgreSQL at {PG_URL} does not answer ({type(exc).__name__}: {exc})"
    finally:
        await engine.dispose()


async def make_pg_schema_engine() -> tuple[AsyncEngine, str]:
    """An engine bound to a fresh schema on the test PostgreSQL (skip the test where there is none)."""
    reason = await _pg_available()
    if reason is not None:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    engine = create_async_engine(PG_URL, connect_args={"server_settings": {"search_path": schema}}, pool_size=10)
    return engine, schema


async def drop_pg_schema(engine: AsyncEngine, schema: str) -> None:
    await engine.dispose()
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


