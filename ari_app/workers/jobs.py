"""Due callbacks and the outbox, worked off exactly once by any number of service processes.

Claiming is one statement: ``WITH claim AS MATERIALIZED (SELECT id … LIMIT n FOR UPDATE SKIP
LOCKED) UPDATE … SET status='running', locked_by=me … WHERE id IN (SELECT id FROM claim) RETURNING …``. On PostgreSQL the inner ``SKIP LOCKED`` lets several
instances claim disjoint rows without waiting on each other. SQLite ignores ``FOR UPDATE``, but a
writing statement there holds the database's single write lock from before it reads until it
commits, so the ``status = 'pending'`` condition is re-read under that lock and a row can't be
claimed twice. Finishing a row is guarded by ``locked_by = me``: an instance whose lock was
recovered as stale by another cannot overwrite the other's result.

A row stays ``running`` if its instance dies mid-job; after ``worker.lock_timeout_s`` any
instance takes it over. That is the one way a job can run twice (the instance died after doing
the work but before recording it), so the lock timeout must be longer than any job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import SmsSettings, WorkerSettings
from ari_app.workers.errors import ProviderError
from ari_app.workers.providers import MessageProvider
from models.hotel import Callback, JobStatus, Message

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Originate = Callable[[Callback], Awaitable[None]]
Row = TypeVar("Row", Callback, Message)
MAX_ERROR_CHARS = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


def backoff_s(attempts: int, settings: WorkerSettings) -> float:
    """Delay before the next try after ``attempts`` failed ones: doubling, capped."""
    return float(min(settings.retry_max_s, settings.retry_base_s * (2 ** max(0, attempts - 1))))


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    model: type[Row],
    due_column: Any,
    *,
    instance: str,
    limit: int,
    lock_timeout_s: float,
    now: datetime,
) -> list[Row]:
    stale = now - timedelta(seconds=lock_timeout_s)
    candidates = (
        select(model.id)
        .where(
            or_(
                and_(model.status == JobStatus.PENDING, due_column <= now),
                and_(model.status == JobStatus.RUNNING, model.locked_at < stale),
            )
        )
        .order_by(due_column, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # A CTE is evaluated once. As a plain ``IN (subquery)`` PostgreSQL may re-run the
        # subquery per row, and each re-run skips the rows this statement just updated and locks
        # the next ones: one claim then swallows every due row, ignoring the limit.
        .cte("claim")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(model)
        .where(model.id.in_(select(candidates.c.id)))
        .where(
            or_(
                model.status == JobStatus.PENDING,
                and_(model.status == JobStatus.RUNNING, model.locked_at < stale),
            )
        )
        .values(status=JobStatus.RUNNING, locked_by=instance, locked_at=now, attempts=model.attempts + 1)
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    async with sessions.begin() as db:
        rows = list((await db.scalars(stmt)).all())
    return rows


async def claim_callbacks(
    sessions: async_sessionmaker[AsyncSession],
    *,
    instance: str,
    limit: int,
    lock_timeout_s: float,
    now: datetime,
) -> list[Callback]:
    """Mark up to ``limit`` due (or stale-running) callbacks as ours and return them."""
    return await _claim(
        sessions,
        Callback,
        Callback.due_at,
        instance=instance,
        limit=limit,
        lock_timeout_s=lock_timeout_s,
        now=now,
    )


async def claim_messages(
    sessions: async_sessionmaker[AsyncSession],
    *,
    instance: str,
    limit: int,
    lock_timeout_s: float,
    now: datetime,
) -> list[Message]:
    """Mark up to ``limit`` sendable (or stale-running) outbox messages as ours and return them."""
    return await _claim(
        sessions,
        Message,
        Message.next_attempt_at,
        instance=instance,
        limit=limit,
        lock_timeout_s=lock_timeout_s,
        now=now,
    )


async def _finish(
    sessions: async_sessionmaker[AsyncSession], model: type[Row], row_id: int, instance: str, **values: Any
) -> bool:
    """Record a result if we still own the row; False means another instance took it over."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.locked_by == instance, model.status == JobStatus.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    async with sessions.begin() as db:
        result = await db.execute(stmt)
    owned = bool(getattr(result, "rowcount", 0))
    if not owned:
        log.warning(
            "%s %s was taken over by another instance; result not recorded", model.__tablename__, row_id
        )
    return owned


class _Loop:
    """A polling loop that stops promptly when asked and works without pause while work is queued."""

    kind = "job"

    def __init__(self, worker: WorkerSettings, clock: Clock) -> None:
        self.worker = worker
        self.clock = clock
        self.instance = worker.instance_name

    async def run_once(self) -> int:
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:  # a database hiccup must not end the worker; the next poll retries
                log.exception(
                    "%s worker: batch failed; retrying after %.1f s", self.kind, self.worker.poll_interval_s
                )
                done = 0
            if done >= self.worker.batch_size:
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.worker.poll_interval_s)
            except TimeoutError:
                pass


async def stop_loop_task(stop: asyncio.Event, task: asyncio.Task[Any] | None, timeout_s: float) -> None:
    """Ask a worker's loops to finish the item in hand, wait for them, cancel what overstays.

    The wait is shielded: if whoever stops the worker is itself cancelled, the loop still ends its
    item (a claimed row finished, not left ``running`` until the lock times out).
    """
    stop.set()
    if task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=timeout_s)
    except TimeoutError:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


class CallbackRunner(_Loop):
    """Places due callbacks through ``originate`` (the ARI side), each exactly once."""

    kind = "callback"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        originate: Originate,
        worker: WorkerSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(worker, clock)
        self.sessions = sessions
        self.originate = originate

    async def run_once(self) -> int:
        rows = await claim_callbacks(
            self.sessions,
            instance=self.instance,
            limit=self.worker.batch_size,
            lock_timeout_s=self.worker.lock_timeout_s,
            now=self.clock(),
        )
        for row in rows:
            await self._execute(row)
        return len(rows)

    async def _execute(self, row: Callback) -> None:
        if row.attempts > self.worker.callback_max_attempts:
            await _finish(
                self.sessions,
                Callback,
                row.id,
                self.instance,
                status=JobStatus.FAILED,
                last_error=(row.last_error or "instance died while calling")[:MAX_ERROR_CHARS],
            )
            return
        try:
            await self.originate(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever the originator raised, the row must record it
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            if row.attempts >= self.worker.callback_max_attempts:
                log.warning("callback %s failed for good after %s attempts: %s", row.id, row.attempts, error)
                await _finish(
                    self.sessions, Callback, row.id, self.instance, status=JobStatus.FAILED, last_error=error
                )
            else:
                retry_at = self.clock() + timedelta(seconds=backoff_s(row.attempts, self.worker))
                await _finish(
                    self.sessions,
                    Callback,
                    row.id,
                    self.instance,
                    status=JobStatus.PENDING,
                    due_at=retry_at,
                    last_error=error,
                )
            return
        await _finish(
            self.sessions,
            Callback,
            row.id,
            self.instance,
            status=JobStatus.DONE,
            done_at=self.clock(),
            last_error="",
        )


class OutboxWorker(_Loop):
    """Delivers queued SMS/e-mail through the provider for each channel, with retries and backoff."""

    kind = "outbox"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: dict[str, MessageProvider],
        worker: WorkerSettings,
        sms: SmsSettings,
        *,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(worker, clock)
        self.sessions = sessions
        self.providers = providers
        self.max_attempts = sms.max_attempts

    async def run_once(self) -> int:
        rows = await claim_messages(
            self.sessions,
            instance=self.instance,
            limit=self.worker.batch_size,
            lock_timeout_s=self.worker.lock_timeout_s,
            now=self.clock(),
        )
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: Message) -> None:
        provider = self.providers.get(row.channel)
        try:
            if row.attempts > self.max_attempts:
                raise ProviderError("gave up: instance died while sending", retryable=False)
            if provider is None:
                raise ProviderError(f"no provider for channel {row.channel!r}", retryable=False)
            provider_id = await provider.send(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # provider bugs count as transient failures, and are recorded
            retryable = exc.retryable if isinstance(exc, ProviderError) else True
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            if retryable and row.attempts < self.max_attempts:
                retry_at = self.clock() + timedelta(seconds=backoff_s(row.attempts, self.worker))
                await _finish(
                    self.sessions,
                    Message,
                    row.id,
                    self.instance,
                    status=JobStatus.PENDING,
                    next_attempt_at=retry_at,
                    last_error=error,
                )
            else:
                log.warning("message %s failed after %s attempt(s): %s", row.id, row.attempts, error)
                await _finish(
                    self.sessions, Message, row.id, self.instance, status=JobStatus.FAILED, last_error=error
                )
            return
        await _finish(
            self.sessions,
            Message,
            row.id,
            self.instance,
            status=JobStatus.DONE,
            sent_at=self.clock(),
            provider_id=provider_id[:128],
            last_error="",
        )


async def pending_count(sessions: async_sessionmaker[AsyncSession], models: Sequence[type[Any]]) -> int:
    """Rows not yet finished (pending or running) across ``models``; used by drains and tests."""
    from sqlalchemy import func

    total = 0
    async with sessions() as db:
        for model in models:
            total += int(
                await db.scalar(
                    select(func.count())
                    .select_from(model)
                    .where(model.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
                )
                or 0
            )
    return total
