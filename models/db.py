"""Engine and session factory for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout so the RTP-facing event loop and background workers can
write while the dashboard reads; foreign keys are switched on because SQLite leaves them off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ari_app.settings import DEFAULT_POOL_SIZE


class DatabaseError(Exception):
    """The database can't be used as configured; the message is one line for a console."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = DEFAULT_POOL_SIZE, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    """The engine for ``url``. On PostgreSQL the pool keeps ``pool_size`` connections open: ten
    conversational calls write a caller turn, its reply, a key press and the dialog state at once
    (up to ~32 writes), and a burst beyond the pool opens (and on return closes) overflow
    connections, each one a TCP connect, authentication, type set-up and statement preparation on
    the path of a turn (100-200 ms: with a pool of 20 the first exchange of bench/turn_store.py
    had most of its PostgreSQL misses; with 32 or 40 it had none; issue 16).
    A SQLite file gets the same pool (its writers queue on one lock in :mod:`models.store`)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if connect_args:
        kwargs["connect_args"] = connect_args
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_size=pool_size, max_overflow=pool_size // 2, pool_pre_ping=True)
    elif parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # a file: the same reasoning (a new aiosqlite connection is a thread and four PRAGMAs)
        kwargs.update(pool_size=pool_size, max_overflow=pool_size // 2)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def warm_pool(engine: AsyncEngine) -> int:
    """Open the pool's connections now, at start-up, and leave them in the pool.

    A cold pool opens a connection (on PostgreSQL TCP, authentication and the driver's type set-up;
    on SQLite a thread and the PRAGMAs) on the path of a write: the first exchange of ten calls
    arriving together took 110-250 ms per turn that way, every later one under 100 ms (issue 16).
    Returns the connections opened (0: no pool, an in-memory SQLite); a database that refuses
    some is left for the first writes to open them.
    """
    size_of = getattr(engine.pool, "size", None)
    size = int(size_of()) if callable(size_of) else 0
    conns = []
    try:
        for _ in range(size):
            conns.append(await engine.connect())
        for conn in conns:
            await conn.execute(text("SELECT 1"))
    except Exception:  # warming is an optimisation: the service starts all the same
        pass
    finally:
        for conn in conns:
            await conn.close()
    return len(conns)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _check_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).resolve().parent
        if not folder.is_dir():
            raise DatabaseError(f"database.url: folder {folder} for the SQLite file does not exist")


async def check_database(url: str, timeout_s: float = 5.0) -> None:
    """Connect once and run ``SELECT 1``; raise :class:`DatabaseError` with a clear line otherwise."""
    import asyncio

    parsed = make_url(url)
    _check_sqlite_folder(url)
    engine = make_engine(url)
    try:
        async with asyncio.timeout(timeout_s):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseError(
            f"database.url: {parsed.render_as_string(hide_password=True)} did not answer in {timeout_s:g} s"
        ) from None
    except Exception as exc:  # driver errors differ per backend; the message is what matters here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseError(
            f"database.url: cannot connect to {parsed.render_as_string(hide_password=True)}: {reason}"
        ) from None
    finally:
        await engine.dispose()
