"""The pool (PostgreSQL, or a SQLite file) is opened at start-up, so the first turns of calls arriving together do not
wait for connections to be made (issue 16: turns written within 100 ms)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import make_engine, warm_pool


async def test_given_a_database_when_the_pool_is_warmed_then_every_pooled_connection_is_open_and_idle(
    db_engine: AsyncEngine,
) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=6)
    try:
        opened = await warm_pool(engine)
        assert opened == 6
        assert engine.pool.checkedin() == 6  # type: ignore[attr-defined]
        async with engine.connect():
            assert engine.pool.overflow() <= 0  # type: ignore[attr-defined]  # taken from the pool, none made
    finally:
        await engine.dispose()
