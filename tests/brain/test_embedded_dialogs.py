"""Scripted text-in/text-out conversations with the embedded brain, each checked against the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from brainkit import CALLER, NOW, count, expected_total, greet, new_call, reservations, say, type_code
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain import EmbeddedBrain
from ari_app.settings import Settings
from models.calls import ToolRun
from models.hotel import (
    Callback,
    Message,
    PaymentLink,
    Reservation,
    ReservationNight,
    ReservationStatus,
    Room,
    RoomType,
)

Sessions = async_sessionmaker[AsyncSession]


async def _book_existing(
    hotel: Sessions, settings: Settings, ci: date, co: date, name: str = "Jane Doe"
) -> Reservation:
    """A booking made on an earlier call from the caller's phone, through the same brain."""
    ctx = await new_call(hotel, settings, session_id="earlier")
    brain = EmbeddedBrain()
    await say(brain, ctx, f"i want to book a room from {ci:%B} {ci.day} to {co:%B} {co.day} for two adults")
    await say(brain, ctx, "the standard")
    await say(brain, ctx, f"my name is {name}")
    await say(brain, ctx, "yes")
    await say(brain, ctx, "yes")
    rows = await reservations(hotel)
    assert len(rows) == 1, "setup booking failed"
    return rows[0]


async def test_given_caller_books_with_date_correction_when_confirming_then_one_reservation_with_corrected_dates(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    await greet(brain, ctx)
    r = await say(brain, ctx, "hi i'd like to book a room from december third to the fifth")
    assert "how many guests" in r.text.lower()
    r = await say(brain, ctx, "two adults and a child")
    assert "December 3rd" in r.text and "December 5th" in r.text and "which would you like" in r.text.lower()
    await say(brain, ctx, "the cheapest one")
    await say(brain, ctx, "my name is jane doe")
    r = await say(brain, ctx, "yes")
    assert "to confirm" in r.text.lower() and "Jane Doe" in r.text
    r = await say(brain, ctx, "no the fourth")
    assert "Friday December 4th" in r.text and "shall i book it" in r.text.lower()
    assert await reservations(hotel) == []  # nothing booked before the final yes
    r = await say(brain, ctx, "yes")
    rows = await reservations(hotel)
    assert len(rows) == 1
    res = rows[0]
    assert (res.check_in, res.check_out, res.adults, res.children) == (
        date(2026, 12, 3),
        date(2026, 12, 4),
        2,
        1,
    )
    code = await type_code(hotel, res.room_type_id)
    assert res.total == await expected_total(hotel, code, res.check_in, res.check_out)
    assert " ".join(res.confirmation_code) in r.text
    assert res.phone == CALLER and res.guest_name == "Jane Doe"
    assert await count(hotel, Message) == 1 and await count(hotel, PaymentLink) == 1


async def test_given_guest_count_changes_midway_when_booking_then_reservation_has_new_count(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    await say(brain, ctx, "do you have a room for two people on december 10th for three nights")
    await say(brain, ctx, "actually there will be three adults")
    r = await say(brain, ctx, "the double")
    assert "name" in r.text.lower()
    await say(brain, ctx, "it's john smith")
    await say(brain, ctx, "yes")
    await say(brain, ctx, "yes")
    (res,) = await reservations(hotel)
    assert (res.check_in, res.check_out, res.adults) == (date(2026, 12, 10), date(2026, 12, 13), 3)
    assert res.total == await expected_total(hotel, "DBL", res.check_in, res.check_out)


async def test_given_next_friday_for_three_nights_when_booking_king_then_dates_relative_to_today(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "i need the king deluxe next friday for three nights just me")
    assert "King Deluxe is available" in r.text
    await say(brain, ctx, "Maria Garcia")
    await say(brain, ctx, "yes")
    await say(brain, ctx, "yes")
    (res,) = await reservations(hotel)
    friday = NOW.date() + timedelta(days=7)  # today is a Friday: "next friday" is a week later
    assert (res.check_in, res.check_out, res.adults) == (friday, friday + timedelta(days=3), 1)
    assert await type_code(hotel, res.room_type_id) == "KNG"
    assert res.total == await expected_total(hotel, "KNG", res.check_in, res.check_out)


async def test_given_stay_over_christmas_when_booking_then_total_uses_holiday_rate_overrides(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    await say(brain, ctx, "book a room december 22nd to december 26th for 2 adults")
    await say(brain, ctx, "standard queen")
    await say(brain, ctx, "name is ann lee")
    await say(brain, ctx, "yes")
    r = await say(brain, ctx, "yes")
    (res,) = await reservations(hotel)
    expected = await expected_total(hotel, "STD", date(2026, 12, 22), date(2026, 12, 26))
    async with hotel() as db:
        base = (await db.execute(select(RoomType.base_rate).where(RoomType.code == "STD"))).scalar_one()
    assert res.total == expected and expected > base * 4  # the override nights cost more
    assert "all set" in r.text.lower()


async def test_given_pet_rooms_full_when_caller_brings_dog_then_alternative_offered_and_booked(
    hotel: Sessions, settings: Settings
) -> None:
    async with hotel.begin() as db:  # every pet-friendly room is taken on 10 and 11 December
        rooms = (
            (await db.execute(select(Room).join(RoomType).where(RoomType.pets_allowed.is_(True))))
            .scalars()
            .all()
        )
        for i, room in enumerate(rooms):
            res = Reservation(
                confirmation_code=f"FULL{i:02d}", guest_name="Block", check_in=date(2026, 12, 10),
                check_out=date(2026, 12, 12), adults=1, room_type_id=room.room_type_id, room_id=room.id, total=1,
            )  # fmt: skip
            db.add(res)
            await db.flush()
            db.add_all(
                ReservationNight(reservation_id=res.id, room_id=room.id, night=n)
                for n in (date(2026, 12, 10), date(2026, 12, 11))
            )
    before = await count(hotel, Reservation)
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(
        brain, ctx, "i want to book a room with my dog from december 10 to december 12 for two adults"
    )
    assert "fully booked for guests with a pet" in r.text and "nearest" in r.text
    alt = ctx.state.alternative
    assert alt is not None
    await say(brain, ctx, "yes that works")
    await say(brain, ctx, "tom baker")
    await say(brain, ctx, "yes")
    await say(brain, ctx, "yes")
    rows = await reservations(hotel)
    assert len(rows) == before + 1
    res = rows[-1]
    assert res.pets and (res.check_in.isoformat(), res.check_out.isoformat()) == (
        alt["check_in"],
        alt["check_out"],
    )
    async with hotel() as db:
        rt = await db.get(RoomType, res.room_type_id)
    assert rt is not None and rt.pets_allowed
    assert res.total == await expected_total(hotel, rt.code, res.check_in, res.check_out)


async def test_given_pets_policy_question_then_answer_from_facts_and_nothing_booked(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "do you allow dogs")
    assert r.text.startswith(ctx.facts.topics["pets"].answer)
    assert [t.name for t in r.tools] == ["hotel_info"]
    assert await count(hotel, Reservation) == 0
    async with hotel() as db:
        runs = (await db.execute(select(ToolRun.tool_name))).scalars().all()
    assert runs == ["hotel_info"]


async def test_given_question_mid_booking_when_answered_then_booking_continues(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    await say(brain, ctx, "i'd like a room from december 3 to december 5")
    r = await say(brain, ctx, "what time is check in")
    assert ctx.facts.topics["check_in"].answer in r.text and "how many guests" in r.text.lower()
    r = await say(brain, ctx, "2 adults")
    assert "which would you like" in r.text.lower()


async def test_given_caller_with_booking_when_cancelling_by_caller_id_then_cancelled_and_room_freed(
    hotel: Sessions, settings: Settings
) -> None:
    res = await _book_existing(hotel, settings, date(2026, 12, 15), date(2026, 12, 17))
    assert await count(hotel, ReservationNight) == 2
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="cancel-call")
    r = await say(brain, ctx, "i need to cancel my reservation")
    assert "Jane Doe" in r.text and "cancel it" in r.text
    r = await say(brain, ctx, "yes please")
    assert "cancelled free of charge" in r.text
    (row,) = await reservations(hotel)
    assert row.id == res.id and row.status == ReservationStatus.CANCELLED
    assert await count(hotel, ReservationNight) == 0


async def test_given_other_phone_when_cancelling_by_code_then_name_checked_first(
    hotel: Sessions, settings: Settings
) -> None:
    res = await _book_existing(hotel, settings, date(2026, 12, 15), date(2026, 12, 17), name="Jane Doe")
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, caller="+14155550000", session_id="other")
    await say(brain, ctx, "i want to cancel a booking")
    r = await say(brain, ctx, " ".join(res.confirmation_code.lower()))
    assert "name on the booking" in r.text
    await say(brain, ctx, "john smith")
    r = await say(brain, ctx, "yes")
    assert "couldn't find" in r.text
    assert (await reservations(hotel))[0].status == ReservationStatus.CONFIRMED
    await say(brain, ctx, f"cancel booking {res.confirmation_code}")
    await say(brain, ctx, "doe")
    await say(brain, ctx, "yes")
    assert (await reservations(hotel))[0].status == ReservationStatus.CANCELLED


async def test_given_arrival_inside_free_window_when_cancelling_then_fee_asked_before_cancelling(
    hotel: Sessions, settings: Settings
) -> None:
    settings.hotel.cancellation_free_hours = 48  # arrival tomorrow 15:00 is 29 hours away
    await _book_existing(hotel, settings, date(2026, 11, 21), date(2026, 11, 23))
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="late")
    await say(brain, ctx, "cancel my booking please")
    r = await say(brain, ctx, "yes")
    assert "costs the first night" in r.text
    assert (await reservations(hotel))[0].status == ReservationStatus.CONFIRMED
    r = await say(brain, ctx, "yes")
    assert "with a fee" in r.text
    assert (await reservations(hotel))[0].status == ReservationStatus.CANCELLED


async def test_given_caller_asks_for_a_person_then_transfer_action_to_front_desk(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "can i talk to a real person please")
    assert r.actions and r.actions[-1].kind == "transfer"
    assert r.actions[-1].data["extension"] == settings.hotel.departments["front desk"]
    call = await ctx.tools.store.get_call(ctx.call_id)  # type: ignore[union-attr,arg-type]
    assert call is not None and call.tools_executed == ["transfer_to_human"]


async def test_given_caller_asks_for_reservations_by_keypad_flow_then_transfer_to_that_extension(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "connect me to someone in reservations")
    assert (
        r.actions[-1].kind == "transfer"
        and r.actions[-1].data["extension"] == settings.hotel.departments["reservations"]
    )
    r = await say(brain, ctx, "0", mode="dtmf")
    assert r.actions[-1].kind == "transfer"
    assert await count(hotel, Reservation) == 0


async def test_given_callback_request_when_caller_id_accepted_then_callback_row_due_in_hotel_time(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "could you call me back tomorrow at 10 am")
    assert "ending in 0 1 3 4" in r.text
    r = await say(brain, ctx, "yes")
    assert "call you back" in r.text
    async with hotel() as db:
        (cb,) = (await db.execute(select(Callback))).scalars().all()
    assert cb.phone == CALLER
    assert cb.due_at == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # 10:00 in New York


async def test_given_nonsense_three_times_then_person_offered_then_transferred(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r1 = await say(brain, ctx, "purple monkey dishwasher")
    assert "didn't catch" in r1.text and not r1.actions
    r2 = await say(brain, ctx, "blorp zzz")
    assert "front desk" in r2.text and "menu" in r2.text and not r2.actions
    r3 = await say(brain, ctx, "fnord")
    assert r3.actions and r3.actions[-1].kind == "transfer"
    assert await count(hotel, Reservation) == 0


async def test_given_menu_fallback_setting_when_nonsense_three_times_then_menu_action(
    hotel: Sessions, settings: Settings
) -> None:
    settings.brain.fallback_action = "menu"
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    for text in ("asdf", "qwerty", "zxcv"):
        r = await say(brain, ctx, text)
    assert [a.kind for a in r.actions] == ["menu"]


async def test_given_returning_guest_when_greeted_then_by_first_name(
    hotel: Sessions, settings: Settings
) -> None:
    await _book_existing(hotel, settings, date(2026, 12, 15), date(2026, 12, 17), name="Jane Doe")
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, session_id="second-call")
    r = await greet(brain, ctx)
    assert "Welcome back" in r.text and "Jane" in r.text
    stranger = await new_call(hotel, settings, caller="+14155550199", session_id="stranger")
    r = await greet(brain, stranger)
    assert "Welcome back" not in r.text and "Jane" not in r.text


async def test_given_keypad_yes_at_confirmation_then_booked(hotel: Sessions, settings: Settings) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings, caller="anonymous")
    await say(brain, ctx, "room for one adult on january 5th for 2 nights")
    await say(brain, ctx, "the first one")
    r = await say(brain, ctx, "lee chen")
    assert "what phone number" in r.text.lower()
    await say(brain, ctx, "5551239876", mode="dtmf")
    await say(brain, ctx, "1", mode="dtmf")
    (res,) = await reservations(hotel)
    assert (res.check_in, res.check_out, res.phone) == (date(2027, 1, 5), date(2027, 1, 7), "5551239876")


async def test_given_price_question_without_dates_then_range_then_quote_for_dates(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "how much is a room")
    assert "start at 129 dollars" in r.text and "which dates" in r.text.lower()
    r = await say(brain, ctx, "december 3 to december 4 two adults")
    assert "Standard Queen at 129 dollars" in r.text
    assert await count(hotel, Reservation) == 0


async def test_given_caller_says_goodbye_then_hangup_action(hotel: Sessions, settings: Settings) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "that's all thanks bye")
    assert r.actions[-1].kind == "hangup" and "Goodbye" in r.text


@pytest.mark.parametrize(
    ("utterance", "explains"),
    [
        ("i want to book december 3rd 1999 for two adults", "in the past"),
        ("book a room for 40 adults on december 3rd for two nights", "up to 8 guests"),
        ("i want a room from december 5 to december 3", "has to be after"),
        ("book a room from december 1st for 60 nights", "at most 30 nights"),
    ],
)
async def test_given_impossible_request_then_spoken_explanation_and_nothing_changes(
    hotel: Sessions, settings: Settings, utterance: str, explains: str
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, utterance)
    assert explains in r.text
    assert (ctx.state.check_in, ctx.state.check_out, ctx.state.adults) == (None, None, None)
    assert await count(hotel, Reservation) == 0 and await count(hotel, ToolRun) == 0


async def test_given_sql_dictated_as_request_and_as_name_then_explained_and_tables_intact(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, "'; DROP TABLE reservations; --")
    assert "only help with rooms" in r.text
    await say(brain, ctx, "room for two adults december 3 to december 4")
    await say(brain, ctx, "the standard")
    r = await say(brain, ctx, "Robert'); DROP TABLE reservations;--")
    assert "only help with rooms" in r.text and ctx.state.guest_name is None
    r = await say(brain, ctx, "select * from reservations where 1=1")
    assert ctx.state.guest_name is None
    assert await count(hotel, Reservation) == 0 and await count(hotel, Room) == 20


async def test_given_5000_character_utterance_then_asked_to_be_brief_and_nothing_changes(
    hotel: Sessions, settings: Settings
) -> None:
    brain, ctx = EmbeddedBrain(), await new_call(hotel, settings)
    r = await say(brain, ctx, ("book a room december 3 for two adults " * 130)[:5000])
    assert "few words" in r.text
    assert ctx.state.stage == "idle" and ctx.state.check_in is None and not r.tools
    assert await count(hotel, ToolRun) == 0
