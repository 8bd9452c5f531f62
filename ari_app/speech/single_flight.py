"""One rendering per key at a time, shared by everyone who asks while it runs.

Fifty first calls each synthesising the same greeting on two workers is what made this necessary
(issue 18 D9). The rule that matters is what happens when the caller that started a rendering is
cancelled (barge-in, hang-up): its waiters are other calls that still need the audio, so one of them
takes the rendering over instead of seeing the first caller's CancelledError. A rendering that
fails for a reason other than cancellation fails for every waiter: retrying it for each would only
repeat the failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Abandoned(Exception):
    """The rendering a waiter shared was cancelled with its owner's call."""


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, produce: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """``produce()``'s value and whether it came from a rendering another caller started.

        After an abandoned rendering, several waiters may each call ``produce`` in turn (the first
        can finish before the others wake), so ``produce`` should look for a finished result first."""
        while (shared := self._inflight.get(key)) is not None:
            try:
                # shielded: this waiter hanging up must not cancel what the others await
                return await asyncio.shield(shared), True
            except _Abandoned:
                continue  # its owner was cancelled: the first waiter to get here renders it
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await produce()
        except BaseException as exc:
            future.set_exception(_Abandoned() if isinstance(exc, asyncio.CancelledError) else exc)
            future.exception()  # retrieved here: a failure nobody else awaited is not "never retrieved"
            raise
        finally:
            del self._inflight[key]
        future.set_result(value)
        return value, False
