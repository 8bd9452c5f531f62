"""Several rooms in one reservation: availability for all rooms at once, one code, no double booking,
and the call that cancels a booking linked to it (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.tools import InvalidArguments, NotAvailable, ToolContext, ToolRegistry
from models.hotel import Reservation, ReservationNight, Room, RoomType
from models.store import CallStore

Sessions = async_sessionmaker[AsyncSession]
CtxFactory = Callable[..., ToolContext]
REG = ToolRegistry()
STAY = {"check_in": "2026-12-03", "check_out": "2026-12-05"}


async def _nights_by_room(sessions: Sessions, reservation_id: int) -> dict[int, int]:
    async with sessions() as db:
        rows = await db.execute(
            select(ReservationNight.room_id, func.count())
            .where(ReservationNight.reservation_id == reservation_id)
            .group_by(ReservationNight.room_id)
        )
        return {r[0]: int(r[1]) for r in rows}


async def _rooms_of_type(sessions: Sessions, code: str) -> list[int]:
    async with sessions() as db:
        rows = await db.execute(select(Room.id).join(RoomType).where(RoomType.code == code))
        return [int(r) for r in rows.scalars()]


async def test_given_two_rooms_for_four_adults_when_checking_then_types_priced_for_both_rooms(
    make_ctx: CtxFactory,
) -> None:
    res = await REG.run(make_ctx(), "check_availability", {**STAY, "adults": 4, "rooms": 2})
    by_type = {o["room_type"]: o for o in res.data["options"]}
    assert res.data["rooms"] == 2
    assert set(by_type) == {"STD", "DBL", "KNG", "SUI"}  # every type sleeps 2, so 2 rooms sleep 4
    assert Decimal(by_type["STD"]["total"]) == Decimal(by_type["STD"]["room_total"]) * 2 == Decimal("516.00")


async def test_given_party_too_big_for_one_room_when_checking_then_rooms_needed_named(
    make_ctx: CtxFactory,
) -> None:
    with pytest.raises(NotAvailable) as err:
        await REG.run(make_ctx(), "check_availability", {**STAY, "adults": 6})
    assert err.value.data["rooms_needed"] == 2 and "needs 2 rooms" in err.value.message


async def test_given_two_rooms_booked_then_one_code_both_rooms_hold_every_night_and_total_doubles(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    store = CallStore(hotel)
    call_id = await store.open_call(session_id="mr-1", channel_id="chan-mr-1", caller_id="+15551230134")
    ctx = make_ctx(session_id="mr-1", call_id=call_id)
    data = (
        await REG.run(
            ctx,
            "create_reservation",
            {**STAY, "adults": 4, "rooms": 2, "room_type": "KNG", "guest_name": "Priya Patel"},
        )
    ).data
    async with hotel() as db:
        (row,) = (await db.execute(select(Reservation))).scalars().all()
    assert data["rooms"] == 2 and row.rooms == 2 and data["confirmation_code"] == row.confirmation_code
    assert row.total == Decimal("756.00")  # 2 rooms x 2 nights x 189
    nights = await _nights_by_room(hotel, row.id)
    assert len(nights) == 2 and set(nights.values()) == {2}
    assert set(nights) <= set(await _rooms_of_type(hotel, "KNG"))


async def test_given_only_one_room_of_a_type_left_when_asking_for_two_then_type_not_offered_and_booking_refused(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    ctx = make_ctx()
    await REG.run(
        ctx,
        "create_reservation",
        {**STAY, "adults": 2, "rooms": 1, "room_type": "SUI", "guest_name": "Ann Lee"},
    )
    res = await REG.run(ctx, "check_availability", {**STAY, "adults": 2, "rooms": 2})
    assert "SUI" not in {o["room_type"] for o in res.data["options"]}
    with pytest.raises(NotAvailable):
        await REG.run(
            make_ctx(session_id="other"),
            "create_reservation",
            {**STAY, "adults": 2, "rooms": 2, "room_type": "SUI", "guest_name": "Bo Chen"},
        )
    async with hotel() as db:
        assert int(await db.scalar(select(func.count()).select_from(Reservation)) or 0) == 1


async def test_given_more_rooms_than_adults_then_refused_before_anything_runs(make_ctx: CtxFactory) -> None:
    with pytest.raises(InvalidArguments) as err:
        await REG.run(make_ctx(), "check_availability", {**STAY, "adults": 1, "rooms": 2})
    assert "each room needs an adult" in err.value.message.lower()


async def test_given_racing_multi_room_bookings_for_the_last_rooms_then_never_double_booked(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    # the suites: two rooms; three callers each want both at once
    async def attempt(i: int) -> Any:
        try:
            return await REG.run(
                make_ctx(session_id=f"race-{i}"),
                "create_reservation",
                {**STAY, "adults": 2, "rooms": 2, "room_type": "SUI", "guest_name": "Race Guest"},
            )
        except NotAvailable:
            return None

    results = await asyncio.gather(*(attempt(i) for i in range(3)))
    assert sum(r is not None for r in results) == 1
    async with hotel() as db:
        nights = (await db.execute(select(ReservationNight.room_id, ReservationNight.night))).all()
    assert len(nights) == len(set(nights)) == 4


async def test_given_multi_room_booking_when_change_asked_then_sent_to_reservations_team_unchanged(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    ctx = make_ctx()
    data = (
        await REG.run(
            ctx,
            "create_reservation",
            {**STAY, "adults": 4, "rooms": 2, "room_type": "STD", "guest_name": "Jo Ray"},
        )
    ).data
    with pytest.raises(NotAvailable) as err:
        await REG.run(
            ctx,
            "modify_reservation",
            {"confirmation_code": data["confirmation_code"], "check_out": "2026-12-06"},
        )
    assert "reservations team" in err.value.message


async def test_given_cancelling_call_when_cancelled_then_call_row_linked_to_the_booking(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    store = CallStore(hotel)
    booked = (
        await REG.run(
            make_ctx(),
            "create_reservation",
            {**STAY, "adults": 2, "room_type": "STD", "guest_name": "Jane Doe"},
        )
    ).data
    call_id = await store.open_call(session_id="cancel-1", channel_id="chan-c1", caller_id="+15551230134")
    await REG.run(
        make_ctx(session_id="cancel-1", call_id=call_id),
        "cancel_reservation",
        {"confirmation_code": booked["confirmation_code"]},
    )
    call = await store.get_call(call_id)
    async with hotel() as db:
        res = (await db.execute(select(Reservation))).scalar_one()
    assert call is not None and call.reservation_id == res.id and res.status == "cancelled"
