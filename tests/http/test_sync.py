"""Cloud sync against a real local receiver that checks signatures and counts duplicates (issue 13)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from testsupport import PG_URL, drop_pg_schema, make_pg_schema_engine
from voicekit import add_call

from ari_app.settings import Settings, SyncSettings, WorkerSettings
from ari_app.workers.sync import SyncWorker
from models import Base, SyncOutbox, VoiceAnalytics
from models.db import session_factory

SECRET = "sync-s3cret"
HERE = Path(__file__).parent


class Receiver:
    """The cloud side: verifies each push's HMAC on its own (not with our helper) and counts keys."""

    def __init__(self, down_for: int = 0) -> None:
        self.keys: Counter[str] = Counter()
        self.bad_signatures = 0
        self.refused = 0
        self.down_for = down_for  # answer 503 to the first n pushes
        self.payloads: dict[str, Any] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ts = request.headers.get("X-Hotel-Timestamp", "")
        key = request.headers.get("Idempotency-Key", "")
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.{key}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hotel-Signature", "")) or \
                abs(time.time() - int(ts or 0)) > 300:
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.down_for > 0:
            self.down_for -= 1
            self.refused += 1
            return web.Response(status=503, text="maintenance")
        self.keys[key] += 1
        self.payloads[key] = json.loads(body)
        return web.Response(status=200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_receiver(receiver: Receiver, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/sync", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def _worker(sessions: async_sessionmaker[AsyncSession], port: int, instance: str = "a") -> SyncWorker:
    return SyncWorker(
        sessions, SyncSettings(enabled=True, url=f"http://127.0.0.1:{port}/sync", secret=SecretStr(SECRET)),
        WorkerSettings(instance_name=instance, poll_interval_s=0.05, retry_base_s=0.1, retry_max_s=0.3),
    )


def test_given_default_settings_then_sync_is_off_and_needs_url_and_secret() -> None:
    assert SyncWorker.from_settings(None, Settings()) is None  # type: ignore[arg-type]
    half = Settings(sync=SyncSettings(enabled=True, url="https://cloud.invalid/in"))
    assert SyncWorker.from_settings(None, half) is None  # type: ignore[arg-type]


async def test_given_finished_calls_when_the_receiver_is_down_a_while_then_each_arrives_once_signed(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    for n in range(5):
        cid = await add_call(sqlite_sessions, f"s{n}", started=now - timedelta(minutes=n),
                             turns=[("caller", "hi", None, {}), ("agent", "hello", 500, {"stt_ms": 90.0})])
        async with sqlite_sessions.begin() as db:
            db.add(VoiceAnalytics(call_id=cid, metric_name="speech.turn_latency_ms", metric_value=500.0))
    await add_call(sqlite_sessions, "still-live", started=now, status="active")
    port = free_port()
    worker = _worker(sqlite_sessions, port)
    await worker.run_once()  # nobody listening: connection refused, rows kept for later
    async with sqlite_sessions() as db:
        rows = (await db.execute(select(SyncOutbox))).scalars().all()
    assert len(rows) == 5 and all(r.status == "pending" and r.attempts == 1 and r.last_error for r in rows)
    receiver = Receiver(down_for=3)  # then up, but refusing the first three
    runner = await start_receiver(receiver, port)
    try:
        async with asyncio.timeout(20):
            while len(receiver.keys) < 5:
                await asyncio.sleep(0.05)
                await worker.run_once()
    finally:
        await runner.cleanup()
        if worker._http is not None:  # noqa: SLF001
            await worker._http.close()  # noqa: SLF001
    assert receiver.refused == 3 and receiver.bad_signatures == 0
    assert sorted(receiver.keys.items()) == [(f"call:s{n}", 1) for n in range(5)]
    push = receiver.payloads["call:s0"]
    assert push["type"] == "call.finished" and push["call"]["session_id"] == "s0"
    assert [t["content"] for t in push["turns"]] == ["hi", "hello"]
    assert push["analytics"][0]["metric"] == "speech.turn_latency_ms"
    assert "call:still-live" not in receiver.keys


async def test_given_a_tampered_secret_then_the_receiver_refuses_and_the_row_stays_queued(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(sqlite_sessions, "t", started=datetime.now(UTC))
    port = free_port()
    receiver = Receiver()
    runner = await start_receiver(receiver, port)
    worker = SyncWorker(
        sqlite_sessions, SyncSettings(enabled=True, url=f"http://127.0.0.1:{port}/sync", secret=SecretStr("wrong")),
        WorkerSettings(instance_name="x", retry_base_s=0.1),
    )
    try:
        await worker.run_once()
    finally:
        await runner.cleanup()
        if worker._http is not None:  # noqa: SLF001
            await worker._http.close()  # noqa: SLF001
    assert receiver.bad_signatures == 1 and not receiver.keys
    async with sqlite_sessions() as db:
        row = await db.scalar(select(SyncOutbox))
    assert row is not None and row.status == "pending" and "401" in row.last_error


@pytest.mark.postgres
@pytest.mark.timeout(180)
async def test_given_200_calls_and_two_processes_on_postgresql_then_each_arrives_exactly_once_even_with_the_receiver_down(
) -> None:
    try:
        engine, schema = await make_pg_schema_engine()
    except Exception as exc:  # noqa: BLE001 - the reason is printed with the skip
        pytest.skip(f"PostgreSQL at {PG_URL} does not answer ({type(exc).__name__}: {exc})")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        for n in range(200):
            await add_call(sessions, f"pg{n:03d}", started=now - timedelta(seconds=n),
                           turns=[("agent", f"reply {n}", 400 + n, {})])
        port = free_port()
        receiver = Receiver(down_for=25)
        url = f"http://127.0.0.1:{port}/sync"
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, str(HERE / "sync_proc.py"), PG_URL, schema, url, SECRET, name,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            for name in ("instance-a", "instance-b")
        ]
        await asyncio.sleep(1.0)  # both processes find nobody listening: connection refused
        runner = await start_receiver(receiver, port)  # then up, answering 503 to the first 25 pushes
        try:
            outs = [await asyncio.wait_for(p.communicate(), 150) for p in procs]
        finally:
            await runner.cleanup()
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err.decode()[-2000:]
        delivered = [int(out.decode().strip().splitlines()[-1]) for out, _ in outs]
        assert receiver.bad_signatures == 0 and receiver.refused == 25
        assert len(receiver.keys) == 200 and set(receiver.keys.values()) == {1}
        assert sum(delivered) == 200 and all(d > 0 for d in delivered), delivered  # both did part of the work
        async with sessions() as db:
            done = await db.scalar(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.status == "done"))
        assert done == 200
    finally:
        await drop_pg_schema(engine, schema)
