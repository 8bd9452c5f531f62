"""Writes about calls as they happen: the call row at answer, each turn as spoken, each tool run.

Every method opens its own short transaction, so one call's write never waits on another call's
conversation, and nothing about a live call exists only in memory.

Turn numbers are handed out in memory, per call, in the order :meth:`CallStore.add_turn` (or
:meth:`CallStore.reserve_turn`) is called: a call's turns are written by one process, and reading
``max(turn_number) + 1`` inside each insert let two writes of the same call (a caller turn and the
reply before it, under load) take the same number, so one was lost (issue 16 D5). The first number
of a call comes from the database (a re-adopted call goes on after its stored turns), and a
conflict all the same (another process wrote to the call) re-reads it and retries.

On SQLite every write transaction of the process waits its turn on one in-process FIFO lock per
engine. SQLite has a single writer per file; left to itself, a connection that finds the file
locked sleeps in SQLite's busy handler, whose back-off (1, 2, 5, 10 ... 100 ms) does not wake it
when the lock is freed, so under ten concurrent calls some turns took 130-650 ms to commit while
the actual write takes a few milliseconds (issue 16). Queued on an asyncio lock, each waiter starts
the moment the writer before it commits. PostgreSQL locks rows, not the file, and is left alone.

The brain's dialog state is written after every reply (:meth:`CallStore.save_dialog_state`), so that
nothing a re-adopted call needs lives only in memory (DESIGN 2.7).

Turns and dialog states of all calls go through one group commit (:mod:`models.group_commit`):
those handed in while a transaction runs are written together in the next, one statement per kind
of write. One transaction per write cost the event loop about 3.5 ms of CPU each, and ten calls'
bursts then queued past 100 ms whenever the machine slowed (issue 16, bench/turn_store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Numeric, Table, bindparam, case, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from ari_app.privacy import mask_arguments, mask_card_numbers
from models.base import Base, utcnow
from models.calls import CallDialogState, CallStatus, ConversationTurn, ToolRun, VoiceAnalytics, VoiceCall
from models.group_commit import GroupCommit


def clean_text(value: str) -> str:
    """Text as both databases take it: PostgreSQL refuses a NUL byte in text (``invalid byte
    sequence``) where SQLite stores it, so it is dropped before either sees it (issue 18 L6)."""
    return value.replace("\x00", "") if "\x00" in value else value


@dataclass
class _TurnSequence:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next: int | None = None


log = logging.getLogger(__name__)

# ari_app.sentiment.label's bounds, for the label the database works out from the running mean
SENTIMENT_BOUNDS = (-0.05, 0.05)

# One write lock per (event loop, SQLite engine): every CallStore over the same file shares it.
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[Engine, asyncio.Lock]]
_write_locks = weakref.WeakKeyDictionary()


def sqlite_write_lock(engine: AsyncEngine | Engine) -> asyncio.Lock | None:
    """The in-process lock that write transactions on this SQLite engine queue on; None for other
    databases (their writers do not block each other file-wide)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if sync.dialect.name != "sqlite":
        return None
    per_loop = _write_locks.setdefault(asyncio.get_running_loop(), weakref.WeakKeyDictionary())
    lock = per_loop.get(sync)
    if lock is None:
        lock = per_loop[sync] = asyncio.Lock()
    return lock


@dataclass
class DialogRecord:
    """A stored dialog state: what :meth:`CallStore.load_dialog_state` gives back."""

    seq: int
    brain: str
    snapshot: str


def key_press_turn(store: Any, call_id: int, digit: str) -> Coroutine[Any, Any, None]:
    """A key press as a caller turn in ``dtmf`` mode (issue 16 D8), for phone and browser calls alike.

    The turn's number is taken now, synchronously, so the key sits in the transcript where it was
    pressed even if the write runs later; a database error is logged, never raised into the call.
    ``store`` is a :class:`CallStore` or a wrapper with the same ``add_turn``/``reserve_turn_now``.
    """
    reserve = getattr(store, "reserve_turn_now", None)
    number = reserve(call_id) if callable(reserve) else None

    async def write() -> None:
        try:
            await store.add_turn(call_id, "caller", digit, input_mode="dtmf", turn_number=number)
        except Exception as exc:  # the database must not take the call down
            log.warning("could not store key press %s: %r", digit, exc)

    return write()


class CallStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._sequences: dict[int, _TurnSequence] = {}
        self.turn_conflicts = 0  # retries after another writer took a number (should stay 0)
        # told the final status of every row this store closes (the metrics' calls-ended counter)
        self.on_closed: Any = None
        self._autocommit: AsyncEngine | None = None
        self._upsert: Any = None
        # turns and dialog states of every call, written together while one transaction runs
        self.writes: GroupCommit[_Write] = GroupCommit(self._write_batch)

    async def _write_batch(self, writes: list[_Write]) -> None:
        """One transaction for turns and dialog states handed in together (:mod:`models.group_commit`).

        A lone write of one statement (an agent turn, the dialog state) runs in autocommit on
        PostgreSQL: one round trip instead of three (BEGIN, the statement, COMMIT), which kept
        PostgreSQL's turn writes under 100 ms once every reply also stored the dialog state. On
        SQLite it is an ordinary write transaction (autocommit would cost aiosqlite more thread
        hand-overs, not fewer).
        """
        bind = self.sessions.kw.get("bind")
        alone = len(writes) == 1 and not (isinstance(writes[0], _TurnWrite) and writes[0].sentiment is not None)
        if alone and isinstance(bind, AsyncEngine) and self._is_postgresql():
            if self._autocommit is None:
                self._autocommit = bind.execution_options(isolation_level="AUTOCOMMIT")
            async with self._autocommit.connect() as conn:
                await self._run_writes(conn, writes)
            return
        async with self._write() as db:
            await self._run_writes(await db.connection(), writes)

    async def _run_writes(self, conn: AsyncConnection, writes: list[_Write]) -> None:
        """Each kind of write as one statement, with one row of parameters per write (an
        executemany): the statement texts are the same whatever the batch, so each is prepared
        once per connection (on PostgreSQL) and compiled once per process."""
        turns = [w for w in writes if isinstance(w, _TurnWrite)]
        moods = [w for w in turns if w.sentiment is not None]
        states = [w.values for w in writes if isinstance(w, _StateWrite)]
        if turns:
            await conn.execute(_INSERT_TURN, [w.row for w in turns])
        if moods:
            now = utcnow()
            await conn.execute(
                _INSERT_METRIC,
                [
                    {
                        "call_id": w.row["call_id"],
                        "metric_name": "caller_sentiment",
                        "metric_value": w.sentiment,
                        "labels": {"turn": w.row["turn_number"]},
                        "recorded_at": now,
                    }
                    for w in moods
                ],
            )
            calls = dict.fromkeys(w.row["call_id"] for w in moods)
            await conn.execute(_UPDATE_SENTIMENT, [{"b_call": call_id} for call_id in calls])
        if states:
            await conn.execute(self._state_upsert(), states)

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; on SQLite it waits for the process's other writers first (see the
        module docstring for why)."""
        bind = self.sessions.kw.get("bind")
        lock = sqlite_write_lock(bind) if isinstance(bind, AsyncEngine | Engine) else None
        if lock is None:
            async with self.sessions.begin() as db:
                yield db
            return
        async with self.sessions() as db:
            # the connection is taken (and given back) outside the lock: a new one runs its PRAGMAs
            # and the pool's reset runs on return, neither of which needs the file's write lock
            await db.connection()
            async with lock:
                try:
                    yield db
                    await db.commit()
                except BaseException:
                    await db.rollback()
                    raise

    async def open_call(
        self,
        *,
        session_id: str,
        channel_id: str,
        channel_name: str = "",
        caller_id: str = "",
        caller_name: str = "",
        called_number: str = "",
        direction: str = "inbound",
        asterisk_server: str = "pbx1",
        language: str = "en",
        brain: str = "embedded",
    ) -> int:
        async with self._write() as db:
            call = VoiceCall(
                session_id=session_id,
                channel_id=channel_id,
                channel_name=clean_text(channel_name),
                caller_id=clean_text(caller_id),
                caller_name=clean_text(caller_name),
                called_number=clean_text(called_number),
                direction=direction,
                asterisk_server=asterisk_server,
                language=language,
                brain=brain,
                status=CallStatus.ACTIVE,
            )
            db.add(call)
            await db.flush()
            self._sequences[call.id] = _TurnSequence(next=1)
            return call.id

    async def get_call(self, call_id: int) -> VoiceCall | None:
        async with self.sessions() as db:
            return await db.get(VoiceCall, call_id)

    async def find_active_by_channel(self, channel_id: str, asterisk_server: str | None = None) -> VoiceCall | None:
        async with self.sessions() as db:
            q = select(VoiceCall).where(VoiceCall.channel_id == channel_id, VoiceCall.status == CallStatus.ACTIVE)
            if asterisk_server is not None:
                q = q.where(VoiceCall.asterisk_server == asterisk_server)
            return (await db.execute(q.order_by(VoiceCall.id.desc()))).scalars().first()

    async def active_calls(self, asterisk_server: str | None = None) -> list[VoiceCall]:
        async with self.sessions() as db:
            q = select(VoiceCall).where(VoiceCall.status == CallStatus.ACTIVE)
            if asterisk_server is not None:
                q = q.where(VoiceCall.asterisk_server == asterisk_server)
            return list((await db.execute(q)).scalars())

    async def mark_answered(self, call_id: int) -> None:
        async with self._write() as db:
            await db.execute(
                update(VoiceCall).where(VoiceCall.id == call_id).values(answered_at=datetime.now(UTC))
            )

    async def update_call(self, call_id: int, **values: Any) -> None:
        async with self._write() as db:
            values = {k: clean_text(v) if isinstance(v, str) else v for k, v in values.items()}
            await db.execute(update(VoiceCall).where(VoiceCall.id == call_id).values(**values))

    async def reserve_turn(self, call_id: int) -> int:
        """The next turn number of the call, taken now: for a turn whose text is known only later
        (a greeting stored as far as it was played) but whose place is now."""
        seq = self._sequences.setdefault(call_id, _TurnSequence())
        async with seq.lock:  # FIFO: numbers follow the order of the calls
            if seq.next is None:
                seq.next = await self._max_turn(call_id) + 1
            number = seq.next
            seq.next += 1
            return number

    def reserve_turn_now(self, call_id: int) -> int | None:
        """:meth:`reserve_turn` without waiting, for an event handler that must fix a turn's place
        at the moment it happens (a key press); None when the number is not known in memory yet."""
        seq = self._sequences.get(call_id)
        if seq is None or seq.next is None or seq.lock.locked():
            return None
        number = seq.next
        seq.next += 1
        return number

    async def _max_turn(self, call_id: int) -> int:
        async with self.sessions() as db:
            last = await db.scalar(
                select(func.max(ConversationTurn.turn_number)).where(ConversationTurn.call_id == call_id)
            )
        return int(last or 0)

    async def _resync(self, call_id: int) -> None:
        seq = self._sequences.setdefault(call_id, _TurnSequence())
        async with seq.lock:
            seq.next = max(seq.next or 0, await self._max_turn(call_id) + 1)

    async def add_turn(
        self,
        call_id: int,
        role: str,
        content: str,
        *,
        latency_ms: int | None = None,
        timings: dict[str, Any] | None = None,
        interrupted: bool = False,
        input_mode: str = "speech",
        audio_path: str | None = None,
        turn_number: int | None = None,
    ) -> int:
        """Store one turn (card numbers masked) and return its number within the call (0: nothing
        stored, the text was empty: a reply cut before a word of it was heard).

        ``turn_number`` is one taken earlier with :meth:`reserve_turn`. A caller turn also gets its
        sentiment, as a ``caller_sentiment`` metric for the turn and as the call's running average
        on ``voice_calls.sentiment``, so a supervisor sees an angry caller while the call is live.
        """
        content = clean_text(content)
        if not content.strip():
            return 0
        number = turn_number if turn_number is not None else await self.reserve_turn(call_id)
        for _attempt in range(5):
            try:
                await self._insert_turn(
                    call_id,
                    number,
                    role,
                    content,
                    latency_ms=latency_ms,
                    timings=timings,
                    interrupted=interrupted,
                    input_mode=input_mode,
                    audio_path=audio_path,
                )
                return number
            except IntegrityError:
                # another writer (another process on a re-adopted call) has this number
                self.turn_conflicts += 1
                await self._resync(call_id)
                number = await self.reserve_turn(call_id)
        raise RuntimeError(f"call {call_id}: no free turn number after 5 attempts")

    async def _insert_turn(
        self,
        call_id: int,
        number: int,
        role: str,
        content: str,
        *,
        latency_ms: int | None,
        timings: dict[str, Any] | None,
        interrupted: bool,
        input_mode: str,
        audio_path: str | None,
    ) -> None:
        # everything that needs no database is done before the write: on SQLite the transaction
        # holds the process's one write lock, so it should hold nothing but statements
        row = _turn_row(call_id, number, role, mask_card_numbers(content), latency_ms, timings, interrupted, input_mode, audio_path)
        await self.writes.submit(_TurnWrite(row, _sentiment_of(content) if role == "caller" else None))

    async def call_turns(self, call_id: int) -> list[ConversationTurn]:
        """The call's turns in order, withdrawn ones left out (what a re-adopted call resumes from)."""
        async with self.sessions() as db:
            q = select(ConversationTurn).where(
                ConversationTurn.call_id == call_id, ConversationTurn.withdrawn.is_(False)
            )
            return list((await db.execute(q.order_by(ConversationTurn.turn_number))).scalars())

    async def withdraw_last_caller_turn(self, call_id: int) -> int | None:
        """Mark the call's latest spoken caller turn withdrawn; its number, or None if none."""
        async with self._write() as db:
            number = await db.scalar(
                select(func.max(ConversationTurn.turn_number)).where(
                    ConversationTurn.call_id == call_id,
                    ConversationTurn.role == "caller",
                    ConversationTurn.input_mode == "speech",
                    ConversationTurn.withdrawn.is_(False),
                )
            )
            if number is None:
                return None
            await db.execute(
                update(ConversationTurn)
                .where(ConversationTurn.call_id == call_id, ConversationTurn.turn_number == number)
                .values(withdrawn=True)
            )
            return int(number)

    async def mark_turn_withdrawn(self, call_id: int, turn_number: int) -> None:
        """A caller turn the caller went on from (an early end of turn, then more speech): the
        merged turn after it holds what they said, so this one leaves transcripts and history."""
        async with self._write() as db:
            await db.execute(
                update(ConversationTurn)
                .where(ConversationTurn.call_id == call_id, ConversationTurn.turn_number == turn_number)
                .values(withdrawn=True)
            )

    async def last_activity(self, call_id: int) -> datetime | None:
        """The last moment the call is known to have been alive: its last stored turn, else its
        answer or start. What a row closed after the fact (the service was down) ends at."""
        async with self.sessions() as db:
            call = await db.get(VoiceCall, call_id)
            if call is None:
                return None
            last_turn = await db.scalar(
                select(func.max(ConversationTurn.created_at)).where(ConversationTurn.call_id == call_id)
            )
        candidates = [t for t in (last_turn, call.answered_at, call.started_at) if t is not None]
        return max(candidates, key=_aware) if candidates else None

    async def mark_turn_interrupted(self, call_id: int, turn_number: int, spoken_text: str) -> None:
        async with self._write() as db:
            await db.execute(
                update(ConversationTurn)
                .where(ConversationTurn.call_id == call_id, ConversationTurn.turn_number == turn_number)
                .values(interrupted=True, content=mask_card_numbers(clean_text(spoken_text)))
            )

    async def add_tool_run(
        self,
        call_id: int | None,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        ok: bool,
        result_summary: str = "",
        error: str = "",
        latency_ms: float = 0.0,
    ) -> None:
        async with self._write() as db:
            db.add(
                ToolRun(
                    call_id=call_id,
                    tool_name=tool_name,
                    arguments=mask_arguments(arguments),
                    ok=ok,
                    result_summary=mask_card_numbers(result_summary)[:2000],
                    error=mask_card_numbers(error)[:2000],  # validation errors quote their input
                    latency_ms=latency_ms,
                )
            )
            if call_id is not None:
                call = await db.get(VoiceCall, call_id, with_for_update=not _is_sqlite(db))
                if call is not None:
                    call.tools_executed = [*call.tools_executed, tool_name]

    async def add_metric(
        self, call_id: int | None, name: str, value: float, labels: dict[str, Any] | None = None
    ) -> None:
        async with self._write() as db:
            db.add(VoiceAnalytics(call_id=call_id, metric_name=name, metric_value=value, labels=labels or {}))

    async def close_call(
        self,
        call_id: int,
        status: str = CallStatus.COMPLETED,
        end_reason: str = "",
        *,
        ended_at: datetime | None = None,
    ) -> None:
        """Close the row once: duration, status and the transcript assembled from the stored turns
        (withdrawn ones left out). ``ended_at``: when it really ended, if not now."""
        if status not in CallStatus.ALL:
            raise ValueError(f"unknown call status {status!r}")
        self._sequences.pop(call_id, None)
        async with self._write() as db:
            call = await db.get(VoiceCall, call_id)
            if call is None or call.status != CallStatus.ACTIVE:
                return
            turns = (
                await db.execute(
                    select(ConversationTurn)
                    .where(ConversationTurn.call_id == call_id, ConversationTurn.withdrawn.is_(False))
                    .order_by(ConversationTurn.turn_number)
                )
            ).scalars()
            now = _aware(ended_at) if ended_at is not None else datetime.now(UTC)
            call.ended_at = now
            call.duration_s = max(0.0, round((now - _aware(call.started_at)).total_seconds(), 3))
            call.status = status
            call.end_reason = end_reason
            call.transcript = "\n".join(f"{t.role}: {t.content}" for t in turns)
        if self.on_closed is not None:
            self.on_closed(status)

    async def save_dialog_state(self, call_id: int, seq: int, brain: str, snapshot: str) -> None:
        """Keep the brain's state of a live call (its text, as the brain encoded it); a write
        whose ``seq`` is not newer than the stored one is dropped, so writes may finish out of order."""
        values = {"call_id": call_id, "seq": seq, "brain": brain, "snapshot": snapshot, "updated_at": utcnow()}
        await self.writes.submit(_StateWrite(values))

    async def drain(self) -> None:
        """Wait for the turns and dialog states handed in so far (the service's stop, before the
        engine is closed)."""
        await self.writes.drain()

    def _state_upsert(self) -> Any:
        if self._upsert is None:
            table = _table(CallDialogState)
            stmt = (pg_insert if self._is_postgresql() else sqlite_insert)(table)
            self._upsert = stmt.on_conflict_do_update(
                index_elements=[table.c.call_id],
                set_={k: stmt.excluded[k] for k in ("seq", "brain", "snapshot", "updated_at")},
                where=table.c.seq < stmt.excluded.seq,
            )
        return self._upsert

    def _is_postgresql(self) -> bool:
        bind = self.sessions.kw.get("bind")
        return isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql"

    async def warm_statements(self, connections: int, timeout_s: float = 10.0) -> int:
        """Run a live call's writes once on each of ``connections`` pooled PostgreSQL connections,
        at start-up, in transactions that are rolled back (nothing is stored; a few ids are used).

        asyncpg prepares a statement on a connection the first time it runs there, and ten calls
        arriving together each paid that on their first exchange (the turn insert, the sentiment
        insert and update, the dialog-state upsert): 10 of the 12 turns over 100 ms in a run of
        bench/turn_store.py were in it (issue 16). All the transactions are held open together, so
        each runs on a connection of its own. Returns the connections warmed (0 on SQLite, where
        there is nothing to prepare ahead, or when warming fails: it is only an optimisation)."""
        if connections < 1 or not self._is_postgresql():
            return 0
        all_held = asyncio.Barrier(connections)

        async def one() -> bool:
            async with self.sessions() as db:
                try:
                    await db.begin()
                    call = VoiceCall(session_id=f"warm-{uuid.uuid4().hex}", channel_id="", status=CallStatus.ACTIVE)
                    db.add(call)
                    await db.flush()
                    conn = await db.connection()
                    # a batch of two (the executemany form) and a batch of one (the single form):
                    # the driver prepares the two forms apart
                    for numbers in ((1, 2), (3,)):
                        await self._run_writes(conn, [w for n in numbers for w in _warm_writes(call.id, n)])
                    return True
                finally:
                    await all_held.wait()  # the others still hold theirs: this one stays distinct
                    await db.rollback()

        try:
            async with asyncio.timeout(timeout_s):
                results = await asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True)
        except TimeoutError:
            log.warning("database: warming the write statements took over %.0f s; skipped", timeout_s)
            return 0
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            log.warning("database: could not warm the write statements: %r", failed[0])
        return sum(1 for r in results if r is True)

    async def load_dialog_state(self, call_id: int) -> DialogRecord | None:
        """The last dialog state stored for the call, or None (never stored: a fresh dialog)."""
        async with self.sessions() as db:
            row = await db.get(CallDialogState, call_id)
            if row is None:
                return None
            return DialogRecord(row.seq, row.brain, row.snapshot)


@dataclass(frozen=True)
class _TurnWrite:
    row: dict[str, Any]  # the columns (:func:`_turn_row`)
    sentiment: float | None  # a caller turn's score; None for any other turn


@dataclass(frozen=True)
class _StateWrite:
    values: dict[str, Any]  # a call_dialog_states row


_Write = _TurnWrite | _StateWrite


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[str(model.__tablename__)]


_INSERT_TURN = insert(_table(ConversationTurn))
_INSERT_METRIC = insert(_table(VoiceAnalytics))


def _sentiment_update() -> Any:
    """The call's running mean of its turns' scores, and its label, in one UPDATE per call (a
    statement fewer inside the write lock than reading the mean back first)."""
    calls, metrics = _table(VoiceCall), _table(VoiceAnalytics)
    mean = (
        select(func.avg(metrics.c.metric_value))
        .where(metrics.c.call_id == bindparam("b_call"), metrics.c.metric_name == "caller_sentiment")
        .scalar_subquery()
    )
    low, high = SENTIMENT_BOUNDS
    return (
        update(calls)
        .where(calls.c.id == bindparam("b_call"))
        .values(
            sentiment=func.round(cast(mean, Numeric(12, 6)), 4),
            sentiment_label=case((mean <= low, "negative"), (mean >= high, "positive"), else_="neutral"),
        )
    )


_UPDATE_SENTIMENT = _sentiment_update()


def _warm_writes(call_id: int, number: int) -> list[_Write]:
    state = {"call_id": call_id, "seq": number, "brain": "warm-up", "snapshot": "{}", "updated_at": utcnow()}
    return [_TurnWrite(_turn_row(call_id, number, "caller", "warm-up"), 0.0), _StateWrite(state)]


def _turn_row(
    call_id: int,
    number: int,
    role: str,
    content: str,
    latency_ms: int | None = None,
    timings: dict[str, Any] | None = None,
    interrupted: bool = False,
    input_mode: str = "speech",
    audio_path: str | None = None,
) -> dict[str, Any]:
    """A turn's columns, always the same set: the INSERT's text is then the same for every turn, so
    the statement :meth:`CallStore.warm_statements` prepared is the one each turn uses."""
    return {
        "call_id": call_id,
        "turn_number": number,
        "role": role,
        "content": content,
        "latency_ms": latency_ms,
        "timings": timings or {},
        "interrupted": interrupted,
        "input_mode": input_mode,
        "audio_path": audio_path,
        "created_at": utcnow(),
    }


def _sentiment_of(text: str) -> float:
    from ari_app.sentiment import score

    return score(text)


def _aware(at: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _is_sqlite(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name == "sqlite"
