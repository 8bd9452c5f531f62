"""Call setup and teardown through ARI under load: N callers arriving at once.

The Asterisk stand-in runs in a second process (``python -m ari_app.standin``), so its RTP sending is
not charged to us; this process runs one :class:`CallManager` with real ``RtpEndpoint``s, a SQLite
call store and an echo conversation (caller audio straight back). For each N it places N calls at
once through the stand-in's control endpoint, waits until all are ACTIVE, holds them for a few
seconds, hangs all callers up at once and waits until every row is closed. Columns:

- **setup p50/p99/max** (ms): control request sent → call ACTIVE (row written, answered, bridge,
  externalMedia, its StasisStart — the stand-in keeps the recorded 13 ms race —, both bridged);
- **down p50/p99/max** (ms): hang-up sent → externalMedia channel and bridge deleted, row closed;
- **CPU ms/call·s**: this process's CPU time over the hold window / (N × seconds held);
- **left**: channels + bridges still on the stand-in afterwards (must be 0).

Run: ``.venv/bin/python bench/ari.py`` (``--quick`` for N = 10, 50).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ari_app.calls.call import CallOptions  # noqa: E402
from ari_app.calls.manager import CallManager  # noqa: E402
from ari_app.calls.media import rtp_endpoint_factory  # noqa: E402
from ari_app.calls.state import CallState  # noqa: E402
from ari_app.session import CallSession  # noqa: E402
from ari_app.settings import AsteriskSettings, MediaSettings, Settings  # noqa: E402
from models import Base  # noqa: E402
from models.db import make_engine, session_factory  # noqa: E402
from models.store import CallStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "tests" / "fixtures" / "asterisk" / "basic-rtp-in.ulaw"


async def echo(session: CallSession) -> None:
    while True:
        session.media.play(await session.media.read_frame())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_n(manager: CallManager, http: aiohttp.ClientSession, base: str, n: int, hold_s: float) -> str:
    placed: dict[str, float] = {}
    active: dict[str, float] = {}

    async def place(i: int) -> None:
        t0 = time.monotonic()
        async with http.post(f"{base}/_standin/calls", json={"caller_number": f"+1555{i:07d}"}) as resp:
            placed[(await resp.json())["channel_id"]] = t0

    await asyncio.gather(*(place(i) for i in range(n)))
    deadline = time.monotonic() + 60
    while len(active) < n and time.monotonic() < deadline:
        now = time.monotonic()
        for cid, call in list(manager.calls.items()):
            if cid in placed and cid not in active and call.state is CallState.ACTIVE:
                active[cid] = now
        await asyncio.sleep(0.001)
    cpu0, t_hold = time.process_time(), time.monotonic()
    await asyncio.sleep(hold_s)
    cpu = time.process_time() - cpu0
    held = time.monotonic() - t_hold
    calls = {cid: manager.calls[cid] for cid in placed if cid in manager.calls}
    hung: dict[str, float] = {}
    done: dict[str, float] = {}

    async def hang(cid: str) -> None:
        hung[cid] = time.monotonic()
        async with http.delete(f"{base}/_standin/calls/{cid}") as resp:
            await resp.read()
        await calls[cid].finished.wait()
        done[cid] = time.monotonic()

    await asyncio.gather(*(hang(cid) for cid in calls))
    async with http.get(f"{base}/_standin/state") as resp:
        state = await resp.json()
    setup = [(active[c] - placed[c]) * 1000 for c in active]
    teardown = [(done[c] - hung[c]) * 1000 for c in done]
    left = len(state["channels"]) + len(state["bridges"])
    return (
        f"| {n:4d} | {len(active):6d} | {statistics.median(setup):9.1f} | {pct(setup, 0.99):9.1f} "
        f"| {max(setup):9.1f} | {statistics.median(teardown):8.1f} | {pct(teardown, 0.99):8.1f} "
        f"| {max(teardown):8.1f} | {1000 * cpu / (n * held):13.2f} | {left:4d} |"
    )


async def main(ns: list[int], hold_s: float) -> None:
    port = free_port()
    standin = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ari_app.standin",
        "--port",
        str(port),
        "--rtp-file",
        str(AUDIO),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    settings = Settings(
        asterisk=AsteriskSettings(ari_url=base, ari_password=SecretStr("hotel-secret")),
        media=MediaSettings(port_min=20000, port_max=21999),
    )
    server = settings.asterisk.servers()[0]
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/_standin/state") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            manager = CallManager(
                settings,
                server,
                CallStore(session_factory(engine)),
                echo,
                rtp_endpoint_factory(settings.media),
                options=CallOptions(media_stasis_timeout_s=30),
            )
            task = asyncio.get_running_loop().create_task(manager.run(), name="bench:manager")
            await asyncio.wait_for(manager.reconciled.wait(), 10)
            print(
                f"ARI call setup/teardown, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, hold {hold_s:g} s\n"
            )
            print(
                "|    N | active | setup p50 | setup p99 | setup max | down p50 | down p99 | down max | CPU ms/call·s | left |"
            )
            print(
                "|-----:|-------:|----------:|----------:|----------:|---------:|---------:|---------:|--------------:|-----:|"
            )
            for n in ns:
                print(await run_n(manager, http, base, n, hold_s), flush=True)
            await manager.drain(5)
            await task
            await manager.client.close()
    finally:
        standin.terminate()
        await standin.wait()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hold", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main([10, 50] if args.quick else [10, 50, 100, 200], args.hold))
