"""A service-like process for the exactly-once tests: runs a WorkerPool against a shared database
until no callback or message is left, recording every execution in an ``executions`` table.

Usage: python worker_proc.py --url URL [--schema S] --instance NAME --barrier DIR
It writes ``DIR/ready-NAME`` and waits for ``DIR/go`` so that all processes start together.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ari_app.settings import Settings
from ari_app.workers import WorkerPool, claim_callbacks, claim_messages, pending_count
from models.db import make_engine, session_factory
from models.hotel import Callback, Message

DEADLINE_S = 120.0


class RecordingProvider:
    name = "recording"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], instance: str) -> None:
        self.sessions = sessions
        self.instance = instance

    async def send(self, message: Message) -> str:
        await record(self.sessions, "message", message.id, self.instance)
        return f"rec-{message.id}"

    async def close(self) -> None:
        return None


async def record(sessions: async_sessionmaker[AsyncSession], kind: str, item_id: int, instance: str) -> None:
    async with sessions.begin() as db:
        await db.execute(
            text("INSERT INTO executions (kind, item_id, instance) VALUES (:k, :i, :n)"),
            {"k": kind, "i": item_id, "n": instance},
        )


def engine_for(url: str, schema: str | None) -> AsyncEngine:
    if schema:
        return create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    return make_engine(url)


async def main(args: argparse.Namespace) -> int:
    engine = engine_for(args.url, args.schema)
    sessions = session_factory(engine)

    async def originate(callback: Callback) -> None:
        await asyncio.sleep(0.003)  # a call set-up takes a moment; lets the other process interleave
        await record(sessions, "callback", callback.id, args.instance)

    settings = Settings.model_validate(
        {
            "worker": {
                "instance_name": args.instance,
                "poll_interval_s": 0.05,
                "batch_size": 5,
                "lock_timeout_s": 600,
            }
        }
    )
    provider = RecordingProvider(sessions, args.instance)
    pool = WorkerPool(sessions, settings, originate=originate, providers={"sms": provider, "email": provider})
    # Connect and compile the claim statements before the start signal, so that both processes
    # really start competing at the same moment instead of one finishing while the other connects.
    now = datetime.now(UTC)
    await pending_count(sessions, [Callback, Message])
    await claim_callbacks(sessions, instance=args.instance, limit=0, lock_timeout_s=600, now=now)
    await claim_messages(sessions, instance=args.instance, limit=0, lock_timeout_s=600, now=now)
    barrier = Path(args.barrier)
    (barrier / f"ready-{args.instance}").touch()
    started = time.monotonic()
    while not (barrier / "go").exists():
        if time.monotonic() - started > DEADLINE_S:
            return 3
        await asyncio.sleep(0.01)
    code = 0
    await pool.start()
    try:
        while await pending_count(sessions, [Callback, Message]) > 0:
            if time.monotonic() - started > DEADLINE_S:
                code = 4
                break
            await asyncio.sleep(0.05)
    finally:
        await pool.stop()
        await engine.dispose()
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", default=None)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--barrier", required=True)
    sys.exit(asyncio.run(main(parser.parse_args())))
