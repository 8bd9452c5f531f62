"""Scripted conversations that change an existing booking, each checked against the database:
the night rows and their room, the total recomputed from the rate tables, one reservation, same code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from brainkit import (
    CALLER,
    count,
    expected_total,
    new_call,
    nights_of,
    reservations,
    room_type_of_room,
    say,
    span,
    type_code,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain import EmbeddedBrain
from ari_app.settings import Settings
from ari_app.tools.hotel import spoken_money
from models.calls import ToolRun
from models.hotel import Message, Reservation, ReservationNight, Room

Sessions = async_sessionmaker[AsyncSession]
CI, CO = date(2026, 12, 3), date(2026, 12, 5)
OTHER_PHONE = "+14155550000"


async def _booked(
    hotel: Sessions, settings: Settings, ci: date = CI, co: date = CO, room_type: str = "STD"
) -> Reservation:
    """Jane Doe's booking, made on an earlier call from the caller's phone."""
    ctx = await new_call(hotel, settings, session_id="earlier")
    args = {"check_in": ci.isoformat(), "check_out": co.isoformat(), "adults": 2, "room_type": room_type}
    res, err = await ctx.run_tool("create_reservation", {**args, "guest_name": "Jane Doe"})
    assert res is not None, err
    (row,) = await reservations(hotel)
    return row


async def _unchanged(hotel: Sessions, before: Reservation) -> None:
    """The booking row and its nights are exactly as they were."""
    row = next(r for r in await reservations(hotel) if r.id == before.id)
    assert (row.confirmation_code, row.check_in, row.check_out, row.adults, row.children) == (
        before.confirmation_code, before.check_in, before.check_out, before.adults, before.children,
    )  # fmt: skip
    assert (row.room_id, row.room_type_id, row.total) == (before.room_id, before.room_type_id, before.total)
    assert await nights_of(hotel, row.id) == span(before.room_id, before.check_in, before.check_out)


def _money(amount: Decimal) -> str:
    return spoken_money(amount, "USD")


async def test_given_caller_id_when_adding_one_more_night_then_same_room_extended_and_total_from_rates(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="change")

    r = await say(brain, ctx, "hi i need to change my booking")
    assert (
        "Thursday December 3rd to Saturday December 5th" in r.text
        and "What would you like to change" in r.text
    )
    r = await say(brain, ctx, "add one more night")
    new_total = await expected_total(hotel, "STD", CI, date(2026, 12, 6))
    assert (
        f"The new total is {_money(new_total)}, {_money(new_total - before.total)} more than before" in r.text
    )
    assert "Shall I make the change?" in r.text
    await _unchanged(hotel, before)  # nothing changes before the yes
    r = await say(brain, ctx, "yes please")

    assert "Done" in r.text and " ".join(before.confirmation_code) in r.text
    (row,) = await reservations(hotel)
    assert (row.id, row.confirmation_code, row.room_id) == (
        before.id,
        before.confirmation_code,
        before.room_id,
    )
    assert await nights_of(hotel, row.id) == span(before.room_id, CI, date(2026, 12, 6))
    assert row.total == new_total
    assert await count(hotel, Message) == 1  # the change's text, queued in the outbox


async def test_given_move_into_a_full_period_then_nearest_dates_offered_and_declined_nothing_changes(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    async with hotel.begin() as db:  # every room in the hotel is taken on 12 and 13 December
        for i, room in enumerate((await db.execute(select(Room))).scalars().all()):
            block = Reservation(
                confirmation_code=f"FULL{i:02d}", guest_name="Block", check_in=date(2026, 12, 12),
                check_out=date(2026, 12, 14), adults=1, room_type_id=room.room_type_id, room_id=room.id, total=1,
            )  # fmt: skip
            db.add(block)
            await db.flush()
            db.add_all(
                ReservationNight(reservation_id=block.id, room_id=room.id, night=n)
                for n in (date(2026, 12, 12), date(2026, 12, 13))
            )
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="move")

    r = await say(brain, ctx, "can i move my reservation to the 12th")
    assert "isn't available from Saturday December 12th to Monday December 14th" in r.text
    assert (
        "nearest I have is the Standard Queen from Monday December 14th to Wednesday December 16th" in r.text
    )
    assert "Would you like that instead?" in r.text
    r = await say(brain, ctx, "no")
    assert "reservations team" in r.text
    r = await say(brain, ctx, "no thanks")
    assert "stays as it is" in r.text and not r.actions

    await _unchanged(hotel, before)
    assert await count(hotel, Reservation) == 1 + 20 and await count(hotel, Message) == 0


async def test_given_more_guests_than_any_room_sleeps_then_explained_and_nothing_changed(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="guests")

    r = await say(brain, ctx, "i need to change my booking")
    r = await say(brain, ctx, "make it five adults")

    assert "The Standard Queen sleeps at most 2, not 5" in r.text and "Your booking is unchanged" in r.text
    assert (
        ctx.state.stage == "modify_what" and ctx.state.modify.adults is None
    )  # the impossible ask is dropped
    (row,) = await reservations(hotel)
    await _unchanged(hotel, before)
    assert row.total == await expected_total(hotel, "STD", CI, CO)


async def test_given_switch_to_suite_then_price_difference_quoted_and_stay_moves_to_a_suite(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="suite")

    r = await say(brain, ctx, "could we switch to the suite")
    suite_total = await expected_total(hotel, "SUI", CI, CO)
    std_total = await expected_total(hotel, "STD", CI, CO)
    assert "So that's the Harbour Suite" in r.text
    assert (
        f"The new total is {_money(suite_total)}, {_money(suite_total - std_total)} more than before"
        in r.text
    )
    r = await say(brain, ctx, "yes")

    (row,) = await reservations(hotel)
    assert row.confirmation_code == before.confirmation_code and row.room_id != before.room_id
    assert (
        await type_code(hotel, row.room_type_id) == "SUI"
        and await room_type_of_room(hotel, row.room_id) == "SUI"
    )
    assert await nights_of(hotel, row.id) == span(row.room_id, CI, CO)  # the old room's nights are free
    assert row.total == suite_total
    async with hotel() as db:
        old_room_nights = (
            await db.execute(select(ReservationNight).where(ReservationNight.room_id == before.room_id))
        ).all()
    assert old_room_nights == []


async def test_given_code_from_another_phone_then_wrong_name_refused_and_right_name_accepted(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, caller=OTHER_PHONE, session_id="other")
    spelled = " ".join(before.confirmation_code.lower())

    replies = [await say(brain, ctx, "i need to change my booking")]
    assert "confirmation code" in replies[-1].text
    replies.append(await say(brain, ctx, spelled))
    assert "name on the booking" in replies[-1].text
    replies.append(await say(brain, ctx, "john smith"))
    assert "doesn't match" in replies[-1].text
    replies.append(await say(brain, ctx, "no"))

    assert all(t.name != "modify_reservation" for r in replies for t in r.tools)
    await _unchanged(hotel, before)

    await say(brain, ctx, f"i'd like to change booking {before.confirmation_code}")
    r = await say(brain, ctx, "jane doe")
    assert "What would you like to change" in r.text
    await say(brain, ctx, "just one adult")
    await say(brain, ctx, "yes")
    (row,) = await reservations(hotel)
    assert (row.adults, row.confirmation_code, row.room_id) == (1, before.confirmation_code, before.room_id)
    assert row.phone == CALLER  # the booking keeps its own phone


async def test_given_caller_changes_mind_at_confirmation_then_nothing_changed(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="mind")

    r = await say(brain, ctx, "i'd like to leave a day later")
    assert "checking out Sunday December 6th" in r.text and "Shall I make the change?" in r.text
    r = await say(brain, ctx, "no actually leave it")

    assert "left your booking as it is" in r.text
    await _unchanged(hotel, before)
    async with hotel() as db:
        runs = (
            (await db.execute(select(ToolRun).where(ToolRun.tool_name == "modify_reservation")))
            .scalars()
            .all()
        )
    assert [run.arguments.get("preview") for run in runs] == [True]  # priced, never applied
    assert await count(hotel, Message) == 0


async def test_given_arrival_change_corrected_at_read_back_then_corrected_stay_booked(
    hotel: Sessions, settings: Settings
) -> None:
    before = await _booked(hotel, settings, ci=CI, co=date(2026, 12, 8))
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="fix")

    await say(brain, ctx, "i want to change my reservation")
    r = await say(brain, ctx, "we'll arrive on the fifth instead")
    assert "checking in Saturday December 5th and checking out Tuesday December 8th, 3 nights" in r.text
    r = await say(brain, ctx, "no, the sixth")
    new_total = await expected_total(hotel, "STD", date(2026, 12, 6), date(2026, 12, 8))
    assert "checking in Sunday December 6th and checking out Tuesday December 8th, 2 nights" in r.text
    assert f"{_money(before.total - new_total)} less than before" in r.text
    await say(brain, ctx, "yes")

    (row,) = await reservations(hotel)
    assert (row.check_in, row.check_out, row.confirmation_code) == (
        date(2026, 12, 6), date(2026, 12, 8), before.confirmation_code,
    )  # fmt: skip
    assert await nights_of(hotel, row.id) == span(before.room_id, date(2026, 12, 6), date(2026, 12, 8))
    assert row.total == new_total


async def test_given_no_booking_on_the_line_when_request_only_sounds_like_a_change_then_treated_as_new_booking(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, caller=OTHER_PHONE, session_id="new")

    r = await say(brain, ctx, "i'd like a room for two adults on december 10th instead")

    assert ctx.state.stage in ("ask_checkout", "offer") and "confirmation code" not in r.text
    assert all(t.name != "modify_reservation" for t in r.tools)
    assert await count(hotel, Reservation) == 0
