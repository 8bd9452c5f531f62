"""Benchmark: how soon a turn is in the database after it was spoken, 10 conversational calls at
once (issue 16 D5: target every turn within 100 ms; 0 lost, 0 duplicated), on SQLite and, when
given, PostgreSQL.

    .venv/bin/python bench/turn_store.py [--calls 10] [--turns 30] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Each call writes, like the speech loop under load, a caller turn, the reply to it and now and then
a key press at the same moment, with a caller-sentiment update per caller turn, every 50-150 ms;
with each reply it also writes the brain's dialog state (a 2.5 kB snapshot, about what the embedded
dialog stores at the room offer), as the conversation does since issue 16 D11, so that write's
competition with the turns is measured too (its own latency is printed as ``state``).
"Spoken" is the moment ``add_turn`` is called; "written" is when it returns (committed).
Baseline in the same run: one call alone doing the same. Prints p50/p95/max, the ratio to the
baseline, the lost/duplicated counts read back from the database and the transactions the store's
group commit wrote them in. ``--busy N`` runs N busy loops beside it (a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.service import freeze_startup_heap
from models import Base
from models.calls import ConversationTurn
from models.db import make_engine, session_factory, warm_pool
from models.store import CallStore

SNAPSHOT = '{"format":1,"brain":"embedded","state":{"stage":"offer","options":[' + ",".join(
    '{"room_type":"STD","name":"Standard Queen","nightly":[{"night":"2026-12-03","rate":"129.00"}],"total":"258.00"}'
    for _ in range(24)
) + "]}}"


async def _one_call(
    store: CallStore, turns: int, rng: random.Random, latencies: list[float], state_ms: list[float]
) -> tuple[int, int]:
    call_id = await store.open_call(session_id=uuid.uuid4().hex, channel_id=uuid.uuid4().hex)
    expected = 0

    async def timed(role: str, content: str, mode: str = "speech") -> None:
        t0 = time.perf_counter()
        await store.add_turn(call_id, role, content, input_mode=mode)
        latencies.append((time.perf_counter() - t0) * 1000)

    async def state(seq: int) -> None:
        t0 = time.perf_counter()
        await store.save_dialog_state(call_id, seq, "embedded", SNAPSHOT)
        state_ms.append((time.perf_counter() - t0) * 1000)

    for k in range(turns):
        batch = [
            timed("caller", f"I would like a room for {k} nights please"),
            timed("agent", f"Reply {k}."),
            state(k + 1),
        ]
        if rng.random() < 0.2:
            batch.append(timed("caller", str(k % 10), "dtmf"))
        expected += len(batch) - 1  # the state is not a turn
        await asyncio.gather(*batch)
        await asyncio.sleep(rng.uniform(0.05, 0.15))
    await store.close_call(call_id)
    return call_id, expected


async def _run(
    engine: AsyncEngine, calls: int, turns: int, seed: int
) -> tuple[list[float], int, int, list[float], int]:
    store = CallStore(session_factory(engine))
    latencies: list[float] = []
    state_ms: list[float] = []
    rng = random.Random(seed)
    results = await asyncio.gather(
        *(_one_call(store, turns, random.Random(rng.random()), latencies, state_ms) for _ in range(calls))
    )
    lost = duplicated = 0
    async with session_factory(engine)() as db:
        for call_id, expected in results:
            rows = (
                await db.execute(
                    select(ConversationTurn.turn_number, func.count())
                    .where(ConversationTurn.call_id == call_id)
                    .group_by(ConversationTurn.turn_number)
                )
            ).all()
            stored = sum(n for _, n in rows)
            duplicated += sum(n - 1 for _, n in rows if n > 1)
            lost += max(0, expected - stored)
    return latencies, lost, duplicated, state_ms, store.writes.batches


def _fig(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), p95, ordered[-1]


async def _bench(name: str, url: str, calls: int, turns: int) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await engine.dispose()
        # the product's engine (its pool), in a schema of its own
        engine = make_engine(url, connect_args={"server_settings": {"search_path": schema}})
    else:
        schema = ""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        # as the service does at start
        await CallStore(session_factory(engine)).warm_statements(await warm_pool(engine))
        freeze_startup_heap()
        base, _, _, _, _ = await _run(engine, 1, turns, seed=1)
        lat, lost, dup, state_ms, batches = await _run(engine, calls, turns, seed=2)
        b50, b95, bmax = _fig(base)
        p50, p95, pmax = _fig(lat)
        within = sum(1 for v in lat if v <= 100) / len(lat) * 100
        print(f"{name}: baseline (1 call)  p50 {b50:6.1f}  p95 {b95:6.1f}  max {bmax:6.1f} ms")
        print(
            f"{name}: {calls} calls          p50 {p50:6.1f}  p95 {p95:6.1f}  max {pmax:6.1f} ms"
            f"  (x{p95 / b95:.2f} of baseline p95)  {len(lat)} turns, {within:.1f}% within 100 ms,"
            f" lost {lost}, duplicated {dup}"
        )
        s50, s95, smax = _fig(state_ms)
        print(f"{name}: {calls} calls, state p50 {s50:6.1f}  p95 {s95:6.1f}  max {smax:6.1f} ms  ({len(state_ms)} writes)")
        print(f"{name}: {len(lat) + len(state_ms)} writes in {batches} transactions")
    finally:
        if schema:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument(
        "--pg", default="", help="PostgreSQL URL (postgresql+asyncpg://…); empty: SQLite only"
    )
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes to run beside the bench")
    args = parser.parse_args()
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        _bench_all(args)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _bench_all(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_bench("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.calls, args.turns))
    if args.pg:
        asyncio.run(_bench("postgres", args.pg, args.calls, args.turns))


if __name__ == "__main__":
    main()
