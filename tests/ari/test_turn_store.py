"""Turns stored exactly once and in order under concurrency, on SQLite and PostgreSQL (issue 16
D5), NUL bytes (issue 18 L6), withdrawn turns (issue 11) and truthful end times (issue 16 D11)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.calls import CallStatus, ConversationTurn, VoiceCall
from models.store import CallStore


async def _open(store: CallStore, n: int) -> int:
    return await store.open_call(session_id=f"s{n}-{id(store)}", channel_id=f"ch{n}")


async def _turns(sessions: async_sessionmaker[AsyncSession], call_id: int) -> list[ConversationTurn]:
    async with sessions() as db:
        q = select(ConversationTurn).where(ConversationTurn.call_id == call_id)
        return list((await db.execute(q.order_by(ConversationTurn.turn_number))).scalars())


async def test_given_ten_calls_writing_turns_at_once_then_none_is_lost_duplicated_or_out_of_order(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    calls = [await _open(store, n) for n in range(10)]

    async def conversation(call_id: int) -> None:
        # like the speech loop under load: the reply to one turn and the next caller turn (and a
        # DTMF key) are written at the same moment, by different tasks of the same call
        for k in range(6):
            await asyncio.gather(
                store.add_turn(call_id, "caller", f"caller {k}"),
                store.add_turn(call_id, "agent", f"agent {k}"),
                store.add_turn(call_id, "caller", f"key {k}", input_mode="dtmf"),
            )

    await asyncio.gather(*(conversation(c) for c in calls))
    for call_id in calls:
        turns = await _turns(db_sessions, call_id)
        assert [t.turn_number for t in turns] == list(range(1, 19))
        expected = [text for k in range(6) for text in (f"caller {k}", f"agent {k}", f"key {k}")]
        assert [t.content for t in turns] == expected
    assert store.turn_conflicts == 0


async def test_given_a_re_adopted_call_when_a_new_process_stores_turns_then_they_follow_the_stored_ones(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = CallStore(db_sessions)
    call_id = await _open(first, 1)
    for k in range(3):
        await first.add_turn(call_id, "agent", f"before {k}")
    restarted = CallStore(db_sessions)  # a new process: nothing in memory
    numbers = await asyncio.gather(*(restarted.add_turn(call_id, "caller", f"after {k}") for k in range(3)))
    assert numbers == [4, 5, 6]


async def test_given_another_writer_took_the_next_number_then_the_turn_is_retried_not_lost(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    ours, other = CallStore(db_sessions), CallStore(db_sessions)
    call_id = await _open(ours, 2)
    await ours.add_turn(call_id, "agent", "hello")
    await other.add_turn(call_id, "agent", "from elsewhere")  # number 2, behind our back
    assert await ours.add_turn(call_id, "caller", "mine") == 3
    assert ours.turn_conflicts == 1
    assert [t.content for t in await _turns(db_sessions, call_id)] == ["hello", "from elsewhere", "mine"]


async def test_given_a_nul_byte_in_text_then_both_databases_store_it_without_the_nul(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await store.open_call(session_id="nul", channel_id="c", caller_name="Nul\x00 Byte")
    assert await store.add_turn(call_id, "caller", "my name is Nul\x00Byte") == 1
    await store.update_call(call_id, caller_name="Ann\x00")
    await store.close_call(call_id, CallStatus.COMPLETED, "caller_hangup")
    row = await store.get_call(call_id)
    assert row is not None and row.caller_name == "Ann"
    assert row.transcript == "caller: my name is NulByte"


async def test_given_a_withdrawn_caller_turn_then_the_transcript_leaves_it_out(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await _open(store, 3)
    await store.add_turn(call_id, "agent", "How can I help you?")
    partial = await store.add_turn(call_id, "caller", "Great.")
    await store.add_turn(call_id, "caller", "2", input_mode="dtmf")  # a key is never withdrawn
    assert await store.withdraw_last_caller_turn(call_id) == partial
    await store.add_turn(call_id, "caller", "Great. I'd like to book a room.")
    await store.close_call(call_id)
    row = await store.get_call(call_id)
    assert row is not None
    assert row.transcript == "agent: How can I help you?\ncaller: 2\ncaller: Great. I'd like to book a room."
    turns = await _turns(db_sessions, call_id)
    assert [(t.content, t.withdrawn) for t in turns][1] == ("Great.", True)


async def test_given_an_empty_reply_then_no_empty_turn_is_stored(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await _open(store, 4)
    assert await store.add_turn(call_id, "agent", "  ", interrupted=True) == 0
    assert await _turns(db_sessions, call_id) == []


async def test_given_a_row_closed_after_an_outage_then_it_ends_at_its_last_sign_of_life(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await _open(store, 5)
    await store.add_turn(call_id, "agent", "Welcome")
    last = await store.last_activity(call_id)
    assert last is not None
    later = datetime.now(UTC) + timedelta(minutes=5)  # the restart that found the row
    assert last < later
    await store.close_call(call_id, CallStatus.FAILED, "ended_while_disconnected", ended_at=last)
    async with db_sessions() as db:
        row = await db.get(VoiceCall, call_id)
    assert row is not None and row.ended_at is not None
    ended = row.ended_at if row.ended_at.tzinfo else row.ended_at.replace(tzinfo=UTC)
    assert abs((ended - last).total_seconds()) < 0.001


async def test_given_caller_turns_then_the_call_sentiment_is_the_mean_of_their_scores_with_its_label(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The mean and label the database works out in one UPDATE are the ones ari_app.sentiment gives."""
    from ari_app.sentiment import label, score
    from models.store import SENTIMENT_BOUNDS

    assert [label(v) for v in (SENTIMENT_BOUNDS[0], 0.0, SENTIMENT_BOUNDS[1])] == ["negative", "neutral", "positive"]
    store = CallStore(db_sessions)
    call_id = await store.open_call(session_id="s-mood", channel_id="c-mood")
    said = ["This is wonderful, thank you so much!", "The room was dirty and awful.", "Terrible, just terrible."]
    for k, text in enumerate(said, 1):
        await store.add_turn(call_id, "caller", text)
        mean = sum(score(t) for t in said[:k]) / k
        call = await store.get_call(call_id)
        assert call is not None and call.sentiment is not None
        assert abs(call.sentiment - mean) <= 0.00005 and call.sentiment_label == label(mean), (k, mean)
