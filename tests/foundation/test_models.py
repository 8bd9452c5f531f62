"""Every model round-trips on a real SQLite file and on the real PostgreSQL; bookings can't overlap."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import (
    Base,
    Callback,
    CallDialogState,
    CallerScreeningEntry,
    CallEvent,
    ConversationTurn,
    DoNotCall,
    Lead,
    Message,
    OutboundCall,
    PaymentLink,
    RateOverride,
    RecordingAccess,
    Reservation,
    ReservationNight,
    Room,
    RoomType,
    SyncOutbox,
    ToolRun,
    VoiceAnalytics,
    VoiceCall,
)
from models.store import CallStore

NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)


def sample_rows() -> list[Base]:
    rt = RoomType(id=1, code="DBL", name="Double", capacity=2, pets_allowed=True, base_rate=Decimal("129.50"))
    room = Room(id=1, number="101", room_type_id=1, floor=1)
    res = Reservation(
        id=1, confirmation_code="HX7K2P", guest_name="Ana Souza", phone="+15551230000", email="ana@example.org",
        check_in=date(2026, 12, 3), check_out=date(2026, 12, 5), adults=2, children=1, pets=True,
        room_type_id=1, room_id=1, total=Decimal("259.00"), currency="USD", idempotency_key="call-1:abc",
        created_at=NOW,
    )
    call = VoiceCall(
        id=1, session_id="s-1", channel_id="1795615249.22", channel_name="PJSIP/guest-0000000c",
        caller_id="+15551230000", called_number="+15559990000", started_at=NOW, answered_at=NOW,
        tools_executed=["check_availability"], sentiment=0.4, sentiment_label="positive", reservation_id=1,
    )
    return [
        rt, room, res,
        ReservationNight(id=1, reservation_id=1, room_id=1, night=date(2026, 12, 3)),
        RateOverride(id=1, room_type_id=1, night=date(2026, 12, 31), rate=Decimal("299.00")),
        Lead(id=1, name="Bo", phone="+15550001111", interest="wedding block", check_in=date(2027, 6, 1), adults=40),
        call,
        ConversationTurn(id=1, call_id=1, turn_number=1, role="caller", content="a room please", created_at=NOW,
                         latency_ms=640, timings={"stt_ms": 310}),
        CallDialogState(call_id=1, seq=3, brain="embedded", snapshot='{"format":1}', updated_at=NOW),
        ToolRun(id=1, call_id=1, tool_name="check_availability", arguments={"adults": 2}, latency_ms=3.5),
        VoiceAnalytics(id=1, call_id=1, metric_name="turn_latency_ms", metric_value=640.0, recorded_at=NOW),
        Callback(id=1, phone="+15550002222", due_at=NOW + timedelta(hours=2), reason="late check-in"),
        Message(id=1, to="+15551230000", body="Booking HX7K2P confirmed", reservation_id=1, next_attempt_at=NOW),
        PaymentLink(id=1, reservation_id=1, amount=Decimal("259.00"), token="tok-1", url="https://pay/x",
                    expires_at=NOW + timedelta(days=1)),
        *voice_api_rows(),
        CallerScreeningEntry(id=1, number_key="15550005555", number="+1 555 000 5555", kind="block", note="spam",
                             created_at=NOW, updated_at=NOW),
    ]


def voice_api_rows() -> list[Base]:
    """The voice API's tables (issue 13)."""
    return [
        OutboundCall(id=1, request_id="r1", number="+15550003333", purpose="reminder", session_id="s-1",
                     created_at=NOW, updated_at=NOW),
        CallEvent(id=1, session_id="s-1", outbound_id=1, kind="answered", detail={"cause": 16}, at=NOW),
        DoNotCall(id=1, number="+15550004444", note="asked", created_at=NOW),
        RecordingAccess(id=1, session_id="s-1", who="token:ab12cd34", remote="127.0.0.1", byte_range="bytes=0-",
                        status=206, at=NOW),
        SyncOutbox(id=1, idempotency_key="call:s-1", kind="call", call_id=1, payload={"type": "call.finished"},
                   next_attempt_at=NOW, created_at=NOW),
    ]


def column_values(obj: Base) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in inspect(type(obj)).column_attrs}


async def test_given_one_row_of_every_model_when_stored_and_read_back_then_values_are_equal(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    rows = sample_rows()
    assert {type(r).__tablename__ for r in rows} == set(Base.metadata.tables)  # every table covered
    async with db_sessions.begin() as db:
        for row in rows:
            db.add(row)
            await db.flush()
    expected = {(type(r), inspect(r).identity): column_values(r) for r in rows}  # keyed by primary key
    async with db_sessions() as db:
        for (cls, pk), values in expected.items():
            fresh = await db.get(cls, pk)
            assert fresh is not None
            got = column_values(fresh)
            assert got == values, cls.__name__
    # timestamps come back timezone-aware in UTC on both backends
    async with db_sessions() as db:
        call = await db.get(VoiceCall, 1)
        assert call is not None and call.started_at == NOW and call.started_at.tzinfo is not None


async def _book_last_room(sessions: async_sessionmaker[AsyncSession], name: str, start: asyncio.Event) -> bool:
    await start.wait()
    try:
        async with sessions.begin() as db:
            res = Reservation(
                confirmation_code=name, guest_name=name, check_in=date(2027, 1, 10), check_out=date(2027, 1, 12),
                adults=2, room_type_id=1, room_id=1, total=Decimal("200"),
            )
            db.add(res)
            await db.flush()
            for night in (date(2027, 1, 10), date(2027, 1, 11)):
                db.add(ReservationNight(reservation_id=res.id, room_id=1, night=night))
            await asyncio.sleep(0)  # let the other booking interleave
            await db.flush()
        return True
    except IntegrityError:
        return False


async def test_given_one_free_room_when_two_bookings_race_then_exactly_one_wins(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessions.begin() as db:
        db.add(RoomType(id=1, code="DBL", name="Double", capacity=2, base_rate=Decimal("100")))
        await db.flush()
        db.add(Room(id=1, number="101", room_type_id=1))
    start = asyncio.Event()
    tasks = [asyncio.ensure_future(_book_last_room(db_sessions, f"G{i}", start)) for i in range(2)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert sorted(results) == [False, True]
    async with db_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Reservation)) == 1
        assert await db.scalar(select(func.count()).select_from(ReservationNight)) == 2


async def test_given_checkout_before_checkin_when_stored_then_database_refuses(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessions.begin() as db:
        db.add(RoomType(id=1, code="DBL", name="Double", capacity=2, base_rate=Decimal("100")))
        await db.flush()
        db.add(Room(id=1, number="101", room_type_id=1))
    with pytest.raises(IntegrityError):
        async with db_sessions.begin() as db:
            db.add(Reservation(confirmation_code="BAD", guest_name="x", check_in=date(2027, 1, 12),
                               check_out=date(2027, 1, 10), room_type_id=1, room_id=1, total=Decimal("0")))


async def test_given_a_call_when_turns_are_written_then_each_is_stored_at_once_and_closed_with_transcript(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await store.open_call(session_id="s-9", channel_id="c-9", caller_id="+1555")
    async with db_sessions() as db:  # the row exists while the call is live
        assert (await db.get(VoiceCall, call_id)) is not None
    assert await store.add_turn(call_id, "caller", "my card is 4111 1111 1111 1111") == 1
    assert await store.add_turn(call_id, "agent", "Please use the payment link instead.") == 2
    await store.add_tool_run(call_id, "create_lead", {"name": "x", "card_number": "4111111111111111"}, ok=True)
    await store.close_call(call_id, "completed", "caller hung up")
    await store.close_call(call_id, "failed", "late duplicate")  # closing twice changes nothing
    call = await store.get_call(call_id)
    assert call is not None
    assert call.status == "completed" and call.end_reason == "caller hung up"
    assert call.duration_s is not None and call.duration_s >= 0
    assert "4111" not in call.transcript.replace("****1111", "")
    assert "[card ****1111]" in call.transcript
    assert call.tools_executed == ["create_lead"]
    async with db_sessions() as db:
        run = (await db.execute(select(ToolRun))).scalar_one()
        assert run.arguments["card_number"] == "***"


async def test_given_caller_turns_when_stored_then_each_gets_sentiment_and_the_call_a_running_average(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallStore(db_sessions)
    call_id = await store.open_call(session_id="s-sent", channel_id="c-sent", caller_id="+1555")
    await store.add_turn(call_id, "caller", "The room was dirty and the staff were rude, I want a refund")
    angry = await store.get_call(call_id)
    assert angry is not None and angry.sentiment_label == "negative" and (angry.sentiment or 0) < -0.5
    await store.add_turn(call_id, "agent", "I am sorry to hear that. Let me help.")  # agent turns don't count
    await store.add_turn(call_id, "caller", "Thank you so much, that is perfect")
    call = await store.get_call(call_id)
    async with db_sessions() as db:
        per_turn = (
            await db.execute(
                select(VoiceAnalytics).where(VoiceAnalytics.metric_name == "caller_sentiment").order_by(VoiceAnalytics.id)
            )
        ).scalars().all()
    assert [m.labels["turn"] for m in per_turn] == [1, 3]
    assert per_turn[0].metric_value < -0.5 < 0.5 < per_turn[1].metric_value
    assert call is not None
    assert call.sentiment == pytest.approx((per_turn[0].metric_value + per_turn[1].metric_value) / 2, abs=1e-3)
