"""Group commit (issue 16: ten calls' turns each written within 100 ms): writes handed in together
share one transaction, a bad one fails alone, and nothing handed in is lost."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.calls import ConversationTurn
from models.group_commit import GroupCommit
from models.store import CallStore


class _Recorder:
    """Stands in for the database: records each transaction, refuses the items named bad."""

    def __init__(self, bad: frozenset[str] = frozenset(), delay: float = 0.0) -> None:
        self.bad = bad
        self.delay = delay
        self.batches: list[list[str]] = []
        self.written: list[str] = []

    async def batch(self, items: list[str]) -> None:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.bad & set(items):
            raise ValueError(f"refused {sorted(self.bad & set(items))}")
        self.written.extend(items)


async def test_given_writes_handed_in_together_then_they_share_one_transaction_and_later_ones_the_next() -> None:
    db = _Recorder(delay=0.01)
    commit: GroupCommit[str] = GroupCommit(db.batch)
    first = [asyncio.create_task(commit.submit(f"a{k}")) for k in range(10)]
    await asyncio.sleep(0.005)  # the first transaction is in flight
    second = [asyncio.create_task(commit.submit(f"b{k}")) for k in range(5)]
    await asyncio.gather(*first, *second)
    assert db.batches == [[f"a{k}" for k in range(10)], [f"b{k}" for k in range(5)]]
    assert commit.batches == 2


async def test_given_a_batch_with_one_bad_write_then_only_that_one_fails_and_the_others_are_written() -> None:
    db = _Recorder(bad=frozenset({"bad"}))
    commit: GroupCommit[str] = GroupCommit(db.batch)
    results = await asyncio.gather(*(commit.submit(x) for x in ("ok1", "bad", "ok2")), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)
    assert db.written == ["ok1", "ok2"]
    assert db.batches == [["ok1", "bad", "ok2"], ["ok1"], ["bad"], ["ok2"]]


async def test_given_a_writer_that_stops_waiting_then_its_write_is_still_made() -> None:
    db = _Recorder(delay=0.01)
    commit: GroupCommit[str] = GroupCommit(db.batch)
    task = asyncio.create_task(commit.submit("hung up"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await commit.drain()
    assert db.written == ["hung up"]


async def test_given_a_flood_then_it_is_written_in_slices_of_the_bound() -> None:
    db = _Recorder()
    commit: GroupCommit[str] = GroupCommit(db.batch, max_batch=4)
    await asyncio.gather(*(commit.submit(str(k)) for k in range(10)))
    assert [len(b) for b in db.batches] == [4, 4, 2]
    assert db.written == [str(k) for k in range(10)]


async def test_given_the_flush_is_cancelled_then_every_waiting_writer_is_told() -> None:
    db = _Recorder(delay=1.0)
    commit: GroupCommit[str] = GroupCommit(db.batch)
    writers = [asyncio.create_task(commit.submit(str(k))) for k in range(3)]
    await asyncio.sleep(0.01)
    flush = commit._flush
    assert flush is not None
    flush.cancel()  # what the loop's shutdown does
    results = await asyncio.wait_for(asyncio.gather(*writers, return_exceptions=True), 2)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert commit._flush is None


async def _turns(sessions: async_sessionmaker[AsyncSession], call_id: int) -> list[tuple[int, str]]:
    async with sessions() as db:
        q = select(ConversationTurn.turn_number, ConversationTurn.content).where(ConversationTurn.call_id == call_id)
        return [(n, c) for n, c in (await db.execute(q.order_by(ConversationTurn.turn_number))).all()]


async def test_given_ten_calls_writing_at_once_then_their_writes_share_few_transactions(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    calls = [await store.open_call(session_id=f"gc{n}", channel_id=f"c{n}") for n in range(10)]
    for k in range(3):  # three exchanges of every call at the same moment
        await asyncio.gather(
            *(
                w
                for call_id in calls
                for w in (
                    store.add_turn(call_id, "caller", f"caller {k}"),
                    store.add_turn(call_id, "agent", f"agent {k}"),
                    store.save_dialog_state(call_id, k + 1, "embedded", "{}"),
                )
            )
        )
    assert store.writes.batches <= 6  # 90 writes; one transaction each before
    for call_id in calls:
        assert await _turns(db_sessions, call_id) == [
            (n, text) for n, text in enumerate((f"{r} {k}" for k in range(3) for r in ("caller", "agent")), 1)
        ]
        state = await store.load_dialog_state(call_id)
        assert state is not None and state.seq == 3


async def test_given_one_call_whose_number_was_taken_elsewhere_then_the_calls_beside_it_in_the_batch_are_stored(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    ours, other = CallStore(db_sessions), CallStore(db_sessions)
    taken = await ours.open_call(session_id="gc-taken", channel_id="c1")
    beside = await ours.open_call(session_id="gc-beside", channel_id="c2")
    await ours.add_turn(taken, "agent", "hello")
    await other.add_turn(taken, "agent", "from elsewhere")  # number 2, behind our back
    numbers = await asyncio.gather(
        ours.add_turn(taken, "caller", "mine"),
        ours.add_turn(beside, "caller", "I'd like a room."),
        ours.save_dialog_state(beside, 1, "embedded", "{}"),
    )
    assert list(numbers[:2]) == [3, 1]
    assert ours.turn_conflicts == 1
    assert await _turns(db_sessions, taken) == [(1, "hello"), (2, "from elsewhere"), (3, "mine")]
    assert await _turns(db_sessions, beside) == [(1, "I'd like a room.")]
    assert await ours.load_dialog_state(beside) is not None


async def test_given_a_call_cancelled_while_its_turn_is_written_then_the_turn_is_stored(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await store.open_call(session_id="gc-cancel", channel_id="c")
    writing = asyncio.create_task(store.add_turn(call_id, "agent", "Goodbye, and thank"))
    await asyncio.sleep(0)
    assert store.writes._flush is not None  # the number is taken and the write handed in
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await store.drain()
    assert await _turns(db_sessions, call_id) == [(1, "Goodbye, and thank")]
