"""Group commit: writes that arrive while one transaction is in flight are written together in the
next one.

Ten conversational calls write about thirty things at once (a caller turn, the reply to the turn
before, a key press, the dialog state). Written one transaction each, the event loop spent about
3.5 ms of CPU per write in SQLAlchemy and the driver, so a burst queued for 100 ms and more as soon
as the machine slowed (issue 16, bench/turn_store.py). Gathered into one transaction with one
statement per kind, the burst costs a few statements' work, whatever the number of calls.

There is no waiting to fill a batch: the first write starts a flush on the next turn of the loop,
and whatever the other calls hand in meanwhile (in the same turn, or while that transaction runs)
goes into the one after. A batch that fails is written again one item at a time, so one bad write
(a turn number another process took) fails alone and never takes another call's turn with it.

The flush task belongs to the :class:`GroupCommit`; it ends as soon as nothing is pending, and
:meth:`GroupCommit.drain` waits for it (the service does at stop, before the engine is closed).
A writer that stops waiting (its call was cancelled) does not take its write back: what was handed
in is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# a bound on one transaction: a flood (a backlog after a database stall) is written in slices, so no
# single transaction holds SQLite's one write lock for long
MAX_BATCH = 128


class GroupCommit(Generic[T]):
    def __init__(self, write_batch: Callable[[list[T]], Awaitable[None]], *, max_batch: int = MAX_BATCH) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flush: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written (a figure for tests and benchmarks)

    async def submit(self, item: T) -> None:
        """Hand ``item`` in and wait until it is committed; its own error, if any, is raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, future))
        flush = self._flush
        # (a flush of a loop that was closed without cancelling it would otherwise block every write)
        if flush is None or flush.done() or flush.get_loop() is not loop:
            self._flush = loop.create_task(self._run(), name="group-commit")
        await future

    async def drain(self) -> None:
        """Wait until everything handed in so far is written."""
        while self._flush is not None:
            await asyncio.shield(self._flush)

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._write(batch)
                batch = []
        except asyncio.CancelledError:
            # the loop is shutting down: nobody will be told otherwise
            for _item, future in batch + self._pending:
                future.cancel()
            self._pending.clear()
            raise
        finally:
            self._flush = None

    async def _write(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        self.batches += 1
        try:
            await self._write_batch([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.debug("group commit: a batch of %d failed (%r); writing them one by one", len(batch), exc)
            for item, future in batch:
                self.batches += 1
                try:
                    await self._write_batch([item])
                except Exception as one_exc:
                    _settle(future, one_exc)
                else:
                    _settle(future, None)
            return
        for _item, future in batch:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():  # its writer stopped waiting
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
