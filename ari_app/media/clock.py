"""One 20 ms ticker for many endpoints.

Every tick's deadline is ``origin + n * period`` on the monotonic clock, so sleeping late once never
shifts later ticks (no drift, unlike ``sleep(0.02)`` in a loop). One asyncio task drives all
subscribed endpoints: a tick first lets every endpoint *send* (the timing-critical part, done before
anything else), then lets every endpoint *receive* (jitter-buffer pop, reader wake-up, recording).

A clock built with ``manual=True`` runs no task: tests call :meth:`tick` themselves, which makes
pacing, barge-in and playout assertions exact in frames instead of wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class TickSubscriber(Protocol):
    """What the clock drives; implemented by :class:`~ari_app.media.endpoint.RtpEndpoint`."""

    def on_tick_send(self, tick: int, deadline: float) -> None: ...

    def on_tick_receive(self, tick: int) -> None: ...


class MediaClock:
    """Deadline-driven ticker shared by endpoints; started by the first subscriber, stopped by the last."""

    _shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock] = weakref.WeakKeyDictionary()

    def __init__(
        self,
        period: float = 0.020,
        *,
        time_fn: Callable[[], float] = time.monotonic,
        manual: bool = False,
        max_catchup: int = 5,
        name: str = "media-clock",
    ) -> None:
        self.period = period
        self.time_fn = time_fn
        self.manual = manual
        self.max_catchup = max_catchup
        self.name = name
        self._subs: dict[int, TickSubscriber] = {}
        self._task: asyncio.Task[None] | None = None
        self._tick = 0
        self._origin = time_fn()
        self.deadline = self._origin
        self.skipped_ticks = 0
        self.callback_errors = 0
        # Bench hook: when a list, endpoints append their per-packet send lateness (seconds) to it.
        self.send_lateness: list[float] | None = None

    @classmethod
    def shared(cls) -> MediaClock:
        """The process-wide clock of the running event loop (one per loop)."""
        loop = asyncio.get_running_loop()
        clock = cls._shared.get(loop)
        if clock is None:
            clock = cls(name="media-clock-shared")
            cls._shared[loop] = clock
        return clock

    @property
    def tick_index(self) -> int:
        """Index of the last tick run (0 before the first)."""
        return self._tick

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def attach(self, sub: TickSubscriber) -> None:
        """Subscribe; starts the ticker task (owned by the clock) if this is the first subscriber."""
        self._subs[id(sub)] = sub
        if not self.manual and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def detach(self, sub: TickSubscriber) -> None:
        """Unsubscribe; the last one out cancels the ticker task and waits for it to end."""
        self._subs.pop(id(sub), None)
        if not self._subs:
            await self.close()

    async def close(self) -> None:
        """Stop the ticker task (if any) and wait for it; subscribers stay attached."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def tick(self, deadline: float | None = None) -> None:
        """Run one tick for every subscriber: all sends first, then all receives."""
        self._tick += 1
        n = self._tick
        self.deadline = self.time_fn() if deadline is None else deadline
        subs = list(self._subs.values())
        for sub in subs:
            try:
                sub.on_tick_send(n, self.deadline)
            except Exception:  # one broken call must not stop the audio of all the others
                self.callback_errors += 1
                log.exception("media tick send failed")
        for sub in subs:
            try:
                sub.on_tick_receive(n)
            except Exception:
                self.callback_errors += 1
                log.exception("media tick receive failed")

    async def _run(self) -> None:
        period = self.period
        now = self.time_fn
        origin = now()
        n = 0
        while True:
            n += 1
            deadline = origin + n * period
            delay = deadline - now()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = int(-delay / period)
                if behind > self.max_catchup:
                    # Stalled (suspended process, GC storm): skip instead of bursting; the skipped
                    # ticks still advance RTP timestamps, so the receiver sees a gap, not sped-up audio.
                    self.skipped_ticks += behind
                    self._tick += behind
                    n += behind
                    deadline = origin + n * period
            self.tick(deadline)
