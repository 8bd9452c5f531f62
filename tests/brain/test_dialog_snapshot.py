"""The brains' per-call state written as text and read back (DESIGN 2.7, issue 16 D11): a booking
half made goes on in a new context from its snapshot, and a snapshot that cannot be used (another
format, damage, wrong types) gives a fresh dialog and a log line, never an exception."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from brainkit import CALLER, greet, new_call, say
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain import snapshot
from ari_app.brain.context import CallContext, DialogState, ModifyDraft
from ari_app.brain.embedded import EmbeddedBrain
from ari_app.settings import Settings
from models.hotel import Reservation
from models.store import CallStore

Sessions = async_sessionmaker[AsyncSession]


def _context() -> CallContext:
    return CallContext.create(sessions=None, settings=Settings())  # type: ignore[arg-type]


def test_given_every_kind_of_value_a_dialog_holds_then_the_snapshot_gives_it_back_equal() -> None:
    ctx = _context()
    st = ctx.state
    st.stage, st.intent = "offer", "book"
    st.check_in, st.check_out, st.adults, st.children = date(2026, 12, 3), date(2026, 12, 5), 2, 1
    st.total = Decimal("389.50")
    st.callback_when = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    st.options = [{"room_type": "QN", "total": Decimal("389.50"), "nights": [date(2026, 12, 3)], "ok": True}]
    st.modify = ModifyDraft(code="ABC123", date_base=(date(2026, 12, 3), date(2026, 12, 5)), adults=3)
    st.last_prompt = "Which would you like?"
    ctx.llm_messages[:] = [{"role": "system", "content": "You are the operator."}, {"role": "user", "content": "hi"}]
    ctx.llm_failed = True
    ctx.language = "es"  # chosen in the menu

    other = _context()
    assert snapshot.load_into(other, snapshot.dump(ctx, "embedded"))
    assert other.state == st
    assert isinstance(other.state.total, Decimal) and isinstance(other.state.modify.date_base, tuple)
    assert type(other.state.check_in) is date and isinstance(other.state.callback_when, datetime)
    assert other.llm_messages == ctx.llm_messages and other.llm_failed is True
    assert other.language == "es"


def test_given_a_snapshot_from_before_a_field_existed_then_the_field_takes_its_default() -> None:
    ctx = _context()
    ctx.state.stage, ctx.state.adults = "ask_dates", 2
    data = json.loads(snapshot.dump(ctx, "embedded"))
    del data["state"]["yes_to_list"]  # an older release had no such field
    data["state"]["field_since_removed"] = 7  # ...and a field this release no longer has
    other = _context()
    assert snapshot.load_into(other, json.dumps(data))
    assert (other.state.stage, other.state.adults, other.state.yes_to_list) == ("ask_dates", 2, 0)


def _bad_snapshots() -> dict[str, str]:
    good = json.loads(snapshot.dump(_with_slots(), "embedded"))
    return {
        "cut short": snapshot.dump(_with_slots(), "embedded")[:40],
        "not JSON": "\x00\xff garbage",
        "empty": "",
        "a list": "[1, 2]",
        "other format": json.dumps({**good, "format": 0}),
        "no format": json.dumps({k: v for k, v in good.items() if k != "format"}),
        "wrong type": json.dumps({**good, "state": {**good["state"], "adults": "two"}}),
        "bool for int": json.dumps({**good, "state": {**good["state"], "adults": True}}),
        "bad date": json.dumps({**good, "state": {**good["state"], "check_in": {"$date": "2026-13-45"}}}),
        "datetime for date": json.dumps(
            {**good, "state": {**good["state"], "check_in": {"$datetime": "2026-12-03T10:00:00"}}}
        ),
        "state not an object": json.dumps({**good, "state": 5}),
        "bad messages": json.dumps({**good, "llm_messages": "hello"}),
        "bad language": json.dumps({**good, "language": ["en"]}),
        "deep nesting": json.dumps({**good, "llm_messages": [{"x": json.loads("[" * 100 + "]" * 100)}]}),
        "very deep nesting": '{"format":1,"state":' + "[" * 100_000 + "]" * 100_000 + "}",
    }


def _with_slots() -> CallContext:
    ctx = _context()
    ctx.state.stage, ctx.state.adults, ctx.state.check_in = "offer", 2, date(2026, 12, 3)
    return ctx


@pytest.mark.parametrize("kind", sorted(_bad_snapshots()))
def test_given_a_snapshot_that_cannot_be_used_then_the_dialog_starts_fresh_with_a_warning(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = _context()
    ctx.llm_messages.append({"role": "system", "content": "kept"})
    with caplog.at_level(logging.WARNING, logger="ari_app.brain.snapshot"):
        assert not snapshot.load_into(ctx, _bad_snapshots()[kind], call=12)
    assert ctx.state == DialogState()  # nothing half restored
    assert ctx.llm_messages == [{"role": "system", "content": "kept"}] and ctx.llm_failed is False
    assert any("call 12: stored dialog state not usable" in r.getMessage() for r in caplog.records)


async def test_given_a_booking_half_made_when_a_new_context_loads_its_stored_state_then_it_books_with_the_earlier_facts(
    hotel: Sessions, settings: Settings
) -> None:
    """The stored text goes through the real store (a SQLite file) between two brain instances."""
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    await greet(brain, ctx)
    await say(brain, ctx, "hi i'd like to book a room from december third to the fifth")
    r = await say(brain, ctx, "two adults")
    assert "which would you like" in r.text.lower()
    store = CallStore(hotel)
    assert ctx.call_id is not None
    await store.save_dialog_state(ctx.call_id, 1, "embedded", snapshot.dump(ctx, "embedded"))

    record = await CallStore(hotel).load_dialog_state(ctx.call_id)  # "another process"
    assert record is not None and record.seq == 1 and record.brain == "embedded"
    again = CallContext.create(
        sessions=hotel, settings=settings, store=store, caller_number=CALLER, call_id=ctx.call_id,
        session_id="call-1", clock=ctx.tools.clock,
    )
    assert snapshot.load_into(again, record.snapshot)
    fresh = EmbeddedBrain()
    r = await say(fresh, again, "the cheapest one")
    assert "name" in r.text.lower()
    await say(fresh, again, "my name is jane doe")
    await say(fresh, again, "yes")
    await say(fresh, again, "yes")
    async with hotel() as db:
        (res,) = (await db.execute(select(Reservation))).scalars()
    assert (res.check_in, res.check_out, res.adults, res.guest_name) == (
        date(2026, 12, 3), date(2026, 12, 5), 2, "Jane Doe"
    )
    assert res.check_out - res.check_in == timedelta(days=2)


async def test_given_writes_of_the_state_finishing_out_of_order_then_the_newest_is_kept(
    any_hotel: Sessions,
) -> None:
    store = CallStore(any_hotel)
    call_id = await store.open_call(session_id="s-order", channel_id="c-order")
    await store.save_dialog_state(call_id, 2, "embedded", "second")
    await store.save_dialog_state(call_id, 1, "embedded", "first, late")
    await store.save_dialog_state(call_id, 2, "embedded", "second again")
    record = await store.load_dialog_state(call_id)
    assert record is not None and (record.seq, record.snapshot) == (2, "second")
    await store.save_dialog_state(call_id, 3, "llm", "third")
    record = await store.load_dialog_state(call_id)
    assert record is not None and (record.seq, record.brain, record.snapshot) == (3, "llm", "third")
    assert await store.load_dialog_state(call_id + 1000) is None
