"""The pool (PostgreSQL, or a SQLite file) is opened at start-up, so the first turns of calls arriving together do not
wait for connections to be made (issue 16: turns written within 100 ms)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import make_engine, session_factory, warm_pool
from models.store import CallStore


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


async def test_given_postgresql_when_the_write_statements_are_warmed_then_every_connection_has_them_and_nothing_is_stored(
    db_engine: AsyncEngine,
) -> None:
    """asyncpg prepares a statement per connection on first use; ten calls arriving together paid
    that on their first exchange (issue 16, bench/turn_store.py). Warmed at start, each pooled
    connection already holds the turn insert, the sentiment update and the dialog-state upsert."""
    store = CallStore(session_factory(db_engine))
    warmed = await store.warm_statements(4)
    if db_engine.dialect.name != "postgresql":
        assert warmed == 0  # SQLite has nothing to prepare ahead
        return
    assert warmed == 4
    async with session_factory(db_engine)() as db:
        for table in ("voice_calls", "conversation_turns", "voice_analytics", "call_dialog_states"):
            assert await db.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
    held = [await db_engine.connect() for _ in range(4)]  # the same four connections, all at once
    try:
        for conn in held:
            prepared = (await conn.execute(text("SELECT statement FROM pg_prepared_statements"))).scalars().all()
            joined = "\n".join(prepared)
            assert "INSERT INTO conversation_turns" in joined
            assert "UPDATE voice_calls SET sentiment" in joined
            assert "INSERT INTO call_dialog_states" in joined and "ON CONFLICT" in joined
    finally:
        for conn in held:
            await conn.close()
    # and a real call's writes run those statements: a turn and the state are stored as usual
    call_id = await store.open_call(session_id="s-warm", channel_id="c-warm")
    assert await store.add_turn(call_id, "caller", "I'd like a room.") == 1
    await store.save_dialog_state(call_id, 1, "embedded", "{}")
    assert (await store.load_dialog_state(call_id)) is not None
