"""Callback runner and outbox worker in one process: claims respect the limit, retries back off,
stale locks are recovered, live locks are respected, and the pool starts and stops cleanly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import Settings, SmsSettings, WorkerSettings
from ari_app.workers import (
    CallbackRunner,
    OutboxWorker,
    ProviderError,
    WorkerPool,
    backoff_s,
    claim_callbacks,
)
from models.hotel import Callback, JobStatus, Message

Row = TypeVar("Row", Callback, Message)
T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class ScriptedProvider:
    """Fails with the scripted errors first, then succeeds; remembers what it was asked to send."""

    name = "scripted"

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.sent: list[int] = []

    async def send(self, message: Message) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message.id)
        return f"SM{message.id:032d}"

    async def close(self) -> None:
        return None


def _worker(**values: object) -> WorkerSettings:
    return WorkerSettings.model_validate({"instance_name": "me", "retry_base_s": 60, **values})


async def _add(sessions: async_sessionmaker[AsyncSession], *rows: Callback | Message) -> list[int]:
    async with sessions.begin() as db:
        db.add_all(rows)
        await db.flush()
        return [r.id for r in rows]


async def _get(sessions: async_sessionmaker[AsyncSession], model: type[Row], row_id: int) -> Row:
    async with sessions() as db:
        row: Row = (await db.execute(select(model).where(model.id == row_id))).scalar_one()
        return row


async def test_given_many_due_rows_when_claimed_then_only_the_limit_is_taken_and_never_twice(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _add(db_sessions, *(Callback(phone=str(i), due_at=T0 - timedelta(minutes=1)) for i in range(12)))

    first = await claim_callbacks(db_sessions, instance="a", limit=5, lock_timeout_s=300, now=T0)
    second = await claim_callbacks(db_sessions, instance="b", limit=5, lock_timeout_s=300, now=T0)
    third = await claim_callbacks(db_sessions, instance="a", limit=5, lock_timeout_s=300, now=T0)

    ids = [r.id for r in first + second + third]
    assert [len(first), len(second), len(third)] == [5, 5, 2]
    assert len(set(ids)) == 12
    assert {r.locked_by for r in second} == {"b"} and all(r.status == JobStatus.RUNNING for r in first)


async def test_given_due_and_future_callbacks_when_run_once_then_only_due_are_placed_and_marked_done(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    due, future = await _add(
        db_sessions,
        Callback(phone="+15550001", due_at=T0 - timedelta(seconds=1)),
        Callback(phone="+15550002", due_at=T0 + timedelta(hours=1)),
    )
    placed: list[str] = []

    async def originate(cb: Callback) -> None:
        placed.append(cb.phone)

    runner = CallbackRunner(db_sessions, originate, _worker(), clock=FakeClock(T0))
    assert await runner.run_once() == 1

    assert placed == ["+15550001"]
    done = await _get(db_sessions, Callback, due)
    assert (done.status, done.attempts, done.locked_by, done.done_at) == (JobStatus.DONE, 1, "me", T0)
    assert (await _get(db_sessions, Callback, future)).status == JobStatus.PENDING


async def test_given_originate_keeps_failing_when_retried_then_backs_off_and_finally_fails(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    (cb_id,) = await _add(db_sessions, Callback(phone="+15550003", due_at=T0))
    clock = FakeClock(T0)

    async def originate(cb: Callback) -> None:
        raise ConnectionError("ARI unreachable")

    runner = CallbackRunner(db_sessions, originate, _worker(callback_max_attempts=3), clock=clock)
    due_times = []
    for _ in range(3):
        assert await runner.run_once() == 1
        row = await _get(db_sessions, Callback, cb_id)
        due_times.append(row.due_at)
        assert await runner.run_once() == 0  # not due again yet
        clock.now = row.due_at

    final = await _get(db_sessions, Callback, cb_id)
    assert final.status == JobStatus.FAILED and final.attempts == 3
    assert final.last_error == "ConnectionError: ARI unreachable"
    assert due_times[0] == T0 + timedelta(seconds=60)
    assert due_times[1] == due_times[0] + timedelta(seconds=120)


async def test_given_running_rows_when_claiming_then_stale_lock_is_recovered_and_live_lock_respected(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    stale, live = await _add(
        db_sessions,
        Callback(
            phone="1",
            due_at=T0,
            status=JobStatus.RUNNING,
            locked_by="dead",
            locked_at=T0 - timedelta(seconds=301),
            attempts=1,
        ),
        Callback(
            phone="2",
            due_at=T0,
            status=JobStatus.RUNNING,
            locked_by="alive",
            locked_at=T0 - timedelta(seconds=10),
            attempts=1,
        ),
    )

    claimed = await claim_callbacks(db_sessions, instance="me", limit=10, lock_timeout_s=300, now=T0)

    assert [r.id for r in claimed] == [stale]
    assert claimed[0].attempts == 2 and claimed[0].locked_by == "me"
    assert (await _get(db_sessions, Callback, live)).locked_by == "alive"


async def test_given_transient_then_success_when_outbox_runs_then_message_sent_on_second_attempt(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    (msg_id,) = await _add(
        db_sessions, Message(channel="sms", to="+15550004", body="Your booking", next_attempt_at=T0)
    )
    provider = ScriptedProvider(ProviderError("Twilio HTTP 503", retryable=True))
    clock = FakeClock(T0)
    worker = OutboxWorker(db_sessions, {"sms": provider}, _worker(), SmsSettings(max_attempts=5), clock=clock)

    assert await worker.run_once() == 1
    waiting = await _get(db_sessions, Message, msg_id)
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == (
        JobStatus.PENDING,
        1,
        T0 + timedelta(seconds=60),
    )
    assert waiting.last_error == "ProviderError: Twilio HTTP 503"
    clock.now = waiting.next_attempt_at
    assert await worker.run_once() == 1

    sent = await _get(db_sessions, Message, msg_id)
    assert (sent.status, sent.attempts, sent.provider_id, sent.sent_at) == (
        JobStatus.DONE,
        2,
        f"SM{msg_id:032d}",
        clock.now,
    )
    assert provider.sent == [msg_id]


async def test_given_permanent_error_or_exhausted_attempts_when_outbox_runs_then_message_failed(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    bad, flaky = await _add(
        db_sessions,
        Message(channel="sms", to="+1", body="x", next_attempt_at=T0),
        Message(channel="sms", to="+15550005", body="y", next_attempt_at=T0, attempts=1),
    )
    provider = ScriptedProvider(
        ProviderError("Twilio HTTP 400 error 21211: invalid 'To'", retryable=False, code=21211),
        ProviderError("Twilio unreachable", retryable=True),
    )
    worker = OutboxWorker(
        db_sessions, {"sms": provider}, _worker(), SmsSettings(max_attempts=2), clock=FakeClock(T0)
    )

    assert await worker.run_once() == 2

    assert (await _get(db_sessions, Message, bad)).status == JobStatus.FAILED
    exhausted = await _get(db_sessions, Message, flaky)
    assert (exhausted.status, exhausted.attempts) == (JobStatus.FAILED, 2)


async def test_given_pool_when_started_then_due_work_is_done_and_stop_ends_every_loop(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    await _add(
        db_sessions,
        Callback(phone="+15550006", due_at=now - timedelta(seconds=1)),
        Message(channel="email", to="guest@example.org", body="Receipt", next_attempt_at=now),
    )
    called = asyncio.Event()

    async def originate(cb: Callback) -> None:
        called.set()

    provider = ScriptedProvider()
    settings = Settings.model_validate({"worker": {"instance_name": "pool", "poll_interval_s": 0.02}})
    pool = WorkerPool(
        db_sessions, settings, originate=originate, providers={"sms": provider, "email": provider}
    )
    await pool.start()
    await asyncio.wait_for(called.wait(), timeout=30)
    for _ in range(1500):
        if provider.sent:
            break
        await asyncio.sleep(0.02)
    await pool.stop()

    assert len(provider.sent) == 1
    assert pool._task is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("worker-")]


def test_given_attempts_when_backoff_computed_then_it_doubles_up_to_the_cap() -> None:
    settings = _worker(retry_base_s=10, retry_max_s=50)

    assert [backoff_s(n, settings) for n in range(1, 6)] == [10, 20, 40, 50, 50]
