"""Benchmark: embedded brain time per turn (target p95 <= 20 ms, DB excluded) and tool latency on
SQLite and PostgreSQL, each with a baseline measured in the same run and the ratio to it. The
dialog books, changes that booking (one more night, corrected to two), and asks for a callback.

    .venv/bin/python bench/brain.py [--dialogs 40] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Baselines: for a turn, ``dateparser.search.search_dates`` on the same utterance (what one would
reach for instead of our parser); for a tool, a ``SELECT 1`` round trip on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ari_app.brain import CallContext, EmbeddedBrain
from ari_app.settings import HotelSettings, Settings
from ari_app.tools import ToolError, ToolRegistry
from models import Base
from models.db import make_engine, session_factory
from models.hotel import Reservation
from models.seed import seed_demo_hotel

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
SCRIPT = [
    "hi i'd like to book a room from december third to the fifth",
    "two adults and a child",
    "what time is check in",
    "the cheapest one",
    "my name is jane doe",
    "yes",
    "no the fourth",
    "yes",
    "can you call me back tomorrow at ten am",
    "yes",
    "i need to change my booking",
    "add one more night",
    "no, two more nights",
    "yes",
    "purple monkey dishwasher",
    "thanks bye",
]


class TimedRegistry(ToolRegistry):
    """Counts time spent in tools so the brain's own time can be reported without the database."""

    spent = 0.0

    async def run(self, ctx: Any, name: str, arguments: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await super().run(ctx, name, arguments)
        finally:
            TimedRegistry.spent += time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def line(label: str, values: list[float], baseline: list[float] | None = None) -> str:
    p50, p95 = pct(values, 50), pct(values, 95)
    out = f"{label:<34} n={len(values):<5} p50={p50:8.3f} ms  p95={p95:8.3f} ms"
    if baseline:
        b50, b95 = pct(baseline, 50), pct(baseline, 95)
        out += f"   baseline p50={b50:8.3f} ms p95={b95:8.3f} ms  ratio p50={p50 / b50:.4g}x p95={p95 / b95:.4g}x"
    return out


async def fresh(url: str) -> AsyncEngine:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    return engine


async def bench_turns(engine: AsyncEngine, dialogs: int) -> None:
    import dateparser.search

    sessions = session_factory(engine)
    await seed_demo_hotel(sessions, today=NOW.date())
    settings = Settings(hotel=HotelSettings(timezone="America/New_York"))
    brain = EmbeddedBrain()
    registry = TimedRegistry()
    turn_ms: list[float] = []
    for i in range(dialogs):
        # a number per dialog, so "change my booking" finds that dialog's own booking
        ctx = CallContext.create(
            sessions=sessions, settings=settings, caller_number=f"+1555123{i:04d}", session_id=f"b{i}",
            registry=registry, clock=lambda: NOW,
        )  # fmt: skip
        async for _ in brain.greet(ctx):
            pass
        await brain._room_types(ctx)  # the one per-call room list read is DB time too
        for utterance in SCRIPT:
            TimedRegistry.spent = 0.0
            t0 = time.perf_counter()
            async for _ in brain.respond(ctx, utterance):
                pass
            turn_ms.append((time.perf_counter() - t0 - TimedRegistry.spent) * 1000)
    base_ms: list[float] = []
    settings_dp = {"RELATIVE_BASE": NOW.replace(tzinfo=None), "PREFER_DATES_FROM": "future"}
    dateparser.search.search_dates("warm up", settings=settings_dp)
    for _ in range(max(1, dialogs // 4)):
        for utterance in SCRIPT:
            t0 = time.perf_counter()
            dateparser.search.search_dates(utterance, settings=settings_dp)
            base_ms.append((time.perf_counter() - t0) * 1000)
    async with sessions() as db:
        changed = await db.scalar(
            select(func.count()).select_from(Reservation).where(Reservation.check_out > date(2026, 12, 4))
        )
    print(line("embedded turn (DB excluded)", turn_ms, base_ms))
    print(f"  dialogs whose booking was changed (extended) by the modify turns: {changed}/{dialogs}")
    verdict = "OK" if pct(turn_ms, 95) <= 20 else "OVER TARGET"
    print(f"  target p95 <= 20 ms: {verdict}  (baseline = dateparser.search_dates on the same utterance)")


async def bench_tools(label: str, engine: AsyncEngine, rounds: int) -> None:
    sessions = session_factory(engine)
    await seed_demo_hotel(sessions, today=NOW.date())
    settings = Settings(hotel=HotelSettings(timezone="America/New_York"))
    registry = ToolRegistry()
    ctx = CallContext.create(
        sessions=sessions, settings=settings, caller_number="+15551230134", clock=lambda: NOW
    )
    base: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        base.append((time.perf_counter() - t0) * 1000)
    calls: dict[str, list[float]] = {}

    async def timed(name: str, args: dict[str, Any], label: str = "") -> Any:
        t0 = time.perf_counter()
        try:
            return await registry.run(ctx.tools, name, args)
        except ToolError:
            return None
        finally:
            calls.setdefault(label or name, []).append((time.perf_counter() - t0) * 1000)

    for i in range(rounds):
        day = 1 + i % 28
        stay = {"check_in": f"2027-01-{day:02d}", "check_out": f"2027-01-{day + 1:02d}", "adults": 2}
        await timed("check_availability", stay)
        res = await timed(
            "create_reservation",
            {**stay, "room_type": "DBL", "guest_name": "Bench Guest", "idempotency_key": uuid.uuid4().hex},
        )
        await timed("hotel_info", {"topic": "parking"})
        if res is not None:
            change = {"confirmation_code": res.data["confirmation_code"], "guest_name": "Bench Guest"}
            extended = f"2027-01-{day + 2:02d}"
            await timed(
                "modify_reservation",
                {**change, "check_out": extended, "preview": True},
                "modify_reservation preview",
            )
            await timed("modify_reservation", {**change, "check_out": extended}, "modify_reservation apply")
            await timed(
                "cancel_reservation",
                {"confirmation_code": res.data["confirmation_code"], "guest_name": "Guest"},
            )
    for name, values in calls.items():
        print(line(f"{label} {name}", values, base))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dialogs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    a = ap.parse_args()
    print(f"# bench/brain.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  {platform.processor() or platform.machine()}"
          f"  python {platform.python_version()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await fresh(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await bench_turns(sqlite, a.dialogs)
        await bench_tools("sqlite", sqlite, a.rounds)
        await sqlite.dispose()
    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = create_async_engine(a.pg)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # PostgreSQL absent: say so and skip its half
        print(f"postgresql: skipped ({type(exc).__name__}: {exc})")
        await admin.dispose()
        return
    pg = create_async_engine(a.pg, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with pg.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await bench_tools("postgres", pg, a.rounds)
    finally:
        await pg.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
