"""Prompt-cut latency of the ARI IVR executor: key press → ``media.flush()``, in wall-clock time.

A paced in-memory media port sends one 20 ms frame per deadline on the monotonic clock (like the
RTP sender); a prompt of 5 s plays; at a random point a digit is put on ``session.dtmf`` and we
measure the time until ``flush()`` and the frames of the prompt that still left after the key.
Baseline, same run: the bare hop ``asyncio.Queue.put`` → a waiting ``get`` on the same loop, which
is the floor any design with a DTMF queue pays.

Run: ``.venv/bin/python bench/ivr.py [trials]``; prints a Markdown block for bench/README.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ari_app.ivr import IvrEngine, parse_menu_data
from ari_app.ivr.executor import AriIvrExecutor
from ari_app.session import CallInfo

FRAME = 160
MENU = {
    "entry": "main",
    "menus": {
        "main": {"prompt": {"text": "x" * 250}, "options": [{"digit": 1, "action": "menu", "menu": "sub"}]},
        "sub": {"prompt": {"text": "y"}, "options": [{"digit": 1, "action": "agent"}]},
    },
}


async def tone(text: str) -> npt.NDArray[np.int16]:
    t = np.arange(len(text) * FRAME) / 8000
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


class Utt:
    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.sent = 0
        self.before_key = True
        self.fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def cancel(self) -> None:
        if not self.fut.done():
            self.fut.set_result(False)

    async def wait(self) -> bool:
        return await asyncio.shield(self.fut)


@dataclass
class PacedMedia:
    queue: list[Utt] = field(default_factory=list)
    flushed_at: float | None = None
    sent_after_key: int = 0
    key_at: float | None = None

    def play(self, pcm: npt.NDArray[np.int16]) -> Utt:
        u = Utt(-(-len(pcm) // FRAME))
        u.before_key = self.key_at is None
        self.queue.append(u)
        return u

    def flush(self) -> int:
        if self.flushed_at is None:
            self.flushed_at = time.perf_counter()
        for u in self.queue:
            u.cancel()
        self.queue.clear()
        return 0

    @property
    def is_playing(self) -> bool:
        return bool(self.queue)

    async def pace(self, frames: int) -> None:
        origin = time.monotonic()
        for n in range(1, frames + 1):
            await asyncio.sleep(max(0.0, origin + n * 0.020 - time.monotonic()))
            self.queue = [u for u in self.queue if not u.fut.done()]
            if self.queue:
                u = self.queue[0]
                u.sent += 1
                if self.key_at is not None and u.before_key:
                    self.sent_after_key += 1  # a frame of the prompt the key should have cut
                if u.sent >= u.frames:
                    u.fut.set_result(True)


class Control:
    async def transfer(self, extension: str, context: str | None = None) -> None: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def hangup(self, cause: str = "normal") -> None: ...


@dataclass
class Session:
    media: PacedMedia
    info: CallInfo = field(default_factory=lambda: CallInfo("bench", 1, "ch"))
    control: Control = field(default_factory=Control)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    store: Any = None
    settings: Any = None


async def one_cut(tree: Any, rng: random.Random) -> tuple[float, int]:
    media = PacedMedia()
    session = Session(media)
    executor = AriIvrExecutor(session, IvrEngine(tree), tone)  # type: ignore[arg-type]
    run = asyncio.create_task(executor.run())
    pacer = asyncio.create_task(media.pace(20))
    await asyncio.sleep(rng.uniform(0.06, 0.3))
    media.key_at = time.perf_counter()
    session.dtmf.put_nowait("1")
    await pacer
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    assert media.flushed_at is not None
    return (media.flushed_at - media.key_at) * 1000, media.sent_after_key


async def one_hop() -> float:
    q: asyncio.Queue[float] = asyncio.Queue()
    got: list[float] = []

    async def consumer() -> None:
        await q.get()
        got.append(time.perf_counter())

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0.001)
    start = time.perf_counter()
    q.put_nowait(start)
    await task
    return (got[0] - start) * 1000


def pct(values: list[float] | list[int], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


async def main(trials: int) -> None:
    tree = parse_menu_data(MENU)
    rng = random.Random(7)
    cuts = [await one_cut(tree, rng) for _ in range(trials)]
    hops = [await one_hop() for _ in range(trials)]
    ms = [c[0] for c in cuts]
    frames = [c[1] for c in cuts]
    cpu = platform.processor() or platform.machine()
    print(f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.node()} ({cpu}, {os.cpu_count()} CPUs), "
          f"Python {platform.python_version()}, {trials} trials\n")
    print("| measure | p50 | p95 | max |")
    print("|---|---|---|---|")
    print(f"| key → `media.flush()` (ms) | {statistics.median(ms):.3f} | {pct(ms, 0.95):.3f} | {max(ms):.3f} |")
    print(f"| prompt frames sent after the key | {statistics.median(frames):.0f} | {pct(frames, 0.95):.0f} | {max(frames)} |")
    print(f"| baseline: bare `Queue.put` → `get` hop (ms) | {statistics.median(hops):.3f} | {pct(hops, 0.95):.3f} | {max(hops):.3f} |")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
