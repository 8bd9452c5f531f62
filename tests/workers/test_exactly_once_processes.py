"""Two service processes on one database: 200 due callbacks and 200 queued messages, each
executed exactly once (real OS processes, real PostgreSQL; SQLite too, through its write lock)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import testsupport
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Base
from models.db import make_engine, session_factory
from models.hotel import Callback, JobStatus, Message

SCRIPT = Path(__file__).with_name("worker_proc.py")
REPO = Path(__file__).resolve().parents[2]
N = 200
INSTANCES = ("svc-a", "svc-b")


async def _prepare(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(
            text("CREATE TABLE executions (kind VARCHAR(16), item_id INTEGER, instance VARCHAR(64))")
        )
    sessions = session_factory(engine)
    past = datetime.now(UTC) - timedelta(minutes=5)
    async with sessions.begin() as db:
        db.add_all(Callback(phone=f"+1555000{i:04d}", due_at=past, reason="test") for i in range(N))
        db.add_all(
            Message(channel="sms", to=f"+1555100{i:04d}", body=f"hello {i}", next_attempt_at=past)
            for i in range(N)
        )


async def _run_processes(tmp_path: Path, url: str, schema: str | None) -> list[int | None]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for name in INSTANCES:
        args = [str(SCRIPT), "--url", url, "--instance", name, "--barrier", str(barrier)]
        if schema:
            args += ["--schema", schema]
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=REPO, env=dict(os.environ), stderr=asyncio.subprocess.PIPE
            )
        )
    try:
        for _ in range(3000):
            if all((barrier / f"ready-{n}").exists() for n in INSTANCES):
                break
            if any(p.returncode is not None for p in procs):
                break
            await asyncio.sleep(0.01)
        (barrier / "go").touch()
        codes = []
        for p in procs:
            _, err = await asyncio.wait_for(p.communicate(), timeout=180)
            if err.strip():
                print(err.decode()[-3000:])
            codes.append(p.returncode)
        return codes
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()


async def _assert_exactly_once(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT kind, item_id, instance FROM executions"))).all()
        statuses = Counter(
            (
                await conn.execute(text("SELECT status FROM callbacks UNION ALL SELECT status FROM messages"))
            ).scalars()
        )
    per_item = Counter((kind, item) for kind, item, _ in rows)
    by_instance = Counter(instance for _, _, instance in rows)
    print(f"executions per instance: {dict(by_instance)}")
    assert sorted(k for k, _ in per_item) == ["callback"] * N + ["message"] * N
    duplicates = {k: c for k, c in per_item.items() if c != 1}
    assert duplicates == {}
    assert statuses == {JobStatus.DONE: 2 * N}
    # Both processes took part: otherwise the test would not have tested concurrency at all.
    assert set(by_instance) == set(INSTANCES)


@pytest.mark.postgres
@pytest.mark.timeout(240)
async def test_given_two_processes_on_postgres_when_200_callbacks_and_messages_are_due_then_each_runs_once(
    tmp_path: Path,
) -> None:
    engine, schema = await testsupport.make_pg_schema_engine()
    try:
        await _prepare(engine)
        codes = await _run_processes(tmp_path, testsupport.PG_URL, schema)
        assert codes == [0, 0]
        await _assert_exactly_once(engine)
    finally:
        await testsupport.drop_pg_schema(engine, schema)


@pytest.mark.timeout(240)
async def test_given_two_processes_on_sqlite_when_200_callbacks_and_messages_are_due_then_each_runs_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    try:
        await _prepare(engine)
        codes = await _run_processes(tmp_path, url, None)
        assert codes == [0, 0]
        await _assert_exactly_once(engine)
    finally:
        await engine.dispose()
