"""modify_reservation through the registry, on a real SQLite file and on PostgreSQL.

Every test reads the database afterwards: the night rows (which room, which nights), the total
recomputed here from the rate tables, the confirmation code, and the outbox. The swap, the races
and the retries run on both databases, because that is where they differ (locking, constraint
timing); rules, pricing and identity checks are the same code on either, so they run on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import Settings
from ari_app.tools import InvalidArguments, NotAvailable, NotFound, ToolContext, ToolRegistry
from ari_app.tools import hotel as hotel_tools
from models.hotel import (
    Message,
    PaymentLink,
    RateOverride,
    Reservation,
    ReservationNight,
    ReservationStatus,
    Room,
    RoomType,
)

Sessions = async_sessionmaker[AsyncSession]
CtxFactory = Callable[..., ToolContext]
REG = ToolRegistry()
CI, CO = date(2026, 12, 3), date(2026, 12, 5)
OTHER_PHONE = "+14155550000"
SQLITE_ONLY = pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)


async def _count(sessions: Sessions, model: Any) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def _book(ctx: ToolContext, **over: Any) -> dict[str, Any]:
    args = {"check_in": CI.isoformat(), "check_out": CO.isoformat(), "adults": 2, "room_type": "STD"}
    args |= {"guest_name": "Jane Doe", **over}
    return (await REG.run(ctx, "create_reservation", args)).data


async def _row(sessions: Sessions, code: str) -> Reservation:
    async with sessions() as db:
        return (
            await db.execute(select(Reservation).where(Reservation.confirmation_code == code))
        ).scalar_one()


async def _nights(sessions: Sessions, reservation_id: int) -> list[tuple[int, date]]:
    async with sessions() as db:
        rows = await db.execute(
            select(ReservationNight.room_id, ReservationNight.night)
            .where(ReservationNight.reservation_id == reservation_id)
            .order_by(ReservationNight.night)
        )
        return [(r[0], r[1]) for r in rows]


async def _type_id(sessions: Sessions, code: str) -> int:
    async with sessions() as db:
        return int((await db.execute(select(RoomType.id).where(RoomType.code == code))).scalar_one())


async def _expected(sessions: Sessions, code: str, ci: date, co: date) -> Decimal:
    """Base rate unless an override row says otherwise, summed night by night, straight from the tables."""
    async with sessions() as db:
        rt = (await db.execute(select(RoomType).where(RoomType.code == code))).scalar_one()
        over = {
            o.night: Decimal(o.rate)
            for o in (
                await db.execute(select(RateOverride).where(RateOverride.room_type_id == rt.id))
            ).scalars()
        }
    return sum(
        (over.get(ci + timedelta(days=i), Decimal(rt.base_rate)) for i in range((co - ci).days)), Decimal(0)
    )


def _span(room_id: int, ci: date, co: date) -> list[tuple[int, date]]:
    return [(room_id, ci + timedelta(days=i)) for i in range((co - ci).days)]


async def _block_night(sessions: Sessions, room_id: int, night: date, code: str) -> None:
    """Another guest's booking of one night in one room, written the way the tools write it."""
    async with sessions.begin() as db:
        room = await db.get(Room, room_id)
        assert room is not None
        res = Reservation(
            confirmation_code=code, guest_name="Other Guest", check_in=night, check_out=night + timedelta(days=1),
            adults=1, room_type_id=room.room_type_id, room_id=room_id, total=Decimal(1),
        )  # fmt: skip
        db.add(res)
        await db.flush()
        db.add(ReservationNight(reservation_id=res.id, room_id=room_id, night=night))


async def _only_std_room_left(sessions: Sessions, keep_room: int) -> None:
    std = await _type_id(sessions, "STD")
    async with sessions.begin() as db:
        await db.execute(
            update(Room).where(Room.room_type_id == std, Room.id != keep_room).values(active=False)
        )


async def test_given_extension_when_own_room_free_then_same_room_gets_the_extra_night_and_total_recomputed(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    before = await _row(hotel, booked["confirmation_code"])
    messages = await _count(hotel, Message)

    result = await REG.run(
        make_ctx(),
        "modify_reservation",
        {"confirmation_code": booked["confirmation_code"], "check_out": "2026-12-06"},
    )

    after = await _row(hotel, booked["confirmation_code"])
    assert after.id == before.id and after.room_id == before.room_id
    assert await _nights(hotel, after.id) == _span(before.room_id, CI, date(2026, 12, 6))
    assert after.total == await _expected(hotel, "STD", CI, date(2026, 12, 6))
    assert await _count(hotel, Reservation) == 1
    assert result.data["same_room"] and result.data["changes"] == ["check_out"]
    assert (
        result.data["before"]["check_out"] == "2026-12-05"
        and result.data["after"]["check_out"] == "2026-12-06"
    )
    assert "Saturday December 5th to Sunday December 6th" in result.summary and "Same room" in result.summary
    assert await _count(hotel, Message) == messages + 1
    async with hotel() as db:
        msg = (await db.execute(select(Message).order_by(Message.id.desc()))).scalars().first()
    assert msg is not None and booked["confirmation_code"] in msg.body and "changed" in msg.body


@SQLITE_ONLY
async def test_given_move_into_holidays_then_old_nights_gone_new_ones_booked_and_overrides_priced(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    res_id = (await _row(hotel, booked["confirmation_code"])).id

    result = await REG.run(
        make_ctx(), "modify_reservation", {"check_in": "2026-12-23", "check_out": "2026-12-26"}
    )  # no code: the caller's own booking by caller id

    row = await _row(hotel, booked["confirmation_code"])
    assert (row.check_in, row.check_out) == (date(2026, 12, 23), date(2026, 12, 26))
    assert await _nights(hotel, res_id) == _span(row.room_id, date(2026, 12, 23), date(2026, 12, 26))
    expected = await _expected(hotel, "STD", date(2026, 12, 23), date(2026, 12, 26))
    assert row.total == expected and expected > 3 * Decimal("129")  # Christmas nights cost more
    assert Decimal(result.data["difference"]) == expected - Decimal(booked["total"])
    assert await _count(hotel, ReservationNight) == 3


@SQLITE_ONLY
async def test_given_room_type_switch_then_stay_moves_to_a_room_of_that_type_and_difference_reported(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    old = await _row(hotel, booked["confirmation_code"])

    result = await REG.run(
        make_ctx(),
        "modify_reservation",
        {"confirmation_code": booked["confirmation_code"], "room_type": "suite"},
    )

    row = await _row(hotel, booked["confirmation_code"])
    suite = await _type_id(hotel, "SUI")
    async with hotel() as db:
        room = await db.get(Room, row.room_id)
    assert room is not None and room.room_type_id == suite and row.room_type_id == suite
    assert await _nights(hotel, row.id) == _span(row.room_id, CI, CO)  # old room's nights released
    assert row.total == await _expected(hotel, "SUI", CI, CO)
    assert Decimal(result.data["difference"]) == row.total - old.total
    assert "from the Standard Queen to the Harbour Suite" in result.summary


@SQLITE_ONLY
async def test_given_preview_then_new_total_and_difference_quoted_and_nothing_written(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    nights, messages = await _nights(hotel, row.id), await _count(hotel, Message)

    result = await REG.run(make_ctx(), "modify_reservation", {"check_out": "2026-12-06", "preview": True})

    assert result.data["preview"] and not result.data["changed"] and "Not changed yet" in result.summary
    assert Decimal(result.data["after"]["total"]) == await _expected(hotel, "STD", CI, date(2026, 12, 6))
    assert (await _row(hotel, booked["confirmation_code"])).check_out == CO
    assert await _nights(hotel, row.id) == nights and await _count(hotel, Message) == messages


async def test_given_identical_request_retried_then_second_changes_nothing_and_sends_no_second_text(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    args = {"confirmation_code": booked["confirmation_code"], "check_out": "2026-12-06", "adults": 1}
    first = await REG.run(make_ctx(), "modify_reservation", args)
    state = (await _row(hotel, booked["confirmation_code"])).total, await _count(hotel, Message)

    again = await REG.run(make_ctx(), "modify_reservation", args)

    assert first.data["changed"] and not again.data["changed"] and again.data["changes"] == []
    row = await _row(hotel, booked["confirmation_code"])
    assert (row.total, await _count(hotel, Message)) == state
    assert await _nights(hotel, row.id) == _span(row.room_id, CI, date(2026, 12, 6))


async def test_given_same_change_sent_twice_at_once_then_applied_once_and_one_text(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    messages = await _count(hotel, Message)
    args = {"confirmation_code": booked["confirmation_code"], "check_out": "2026-12-07"}

    results = await asyncio.gather(
        REG.run(make_ctx(session_id="a"), "modify_reservation", args),
        REG.run(make_ctx(session_id="b"), "modify_reservation", args),
    )

    assert sorted(r.data["changed"] for r in results) == [False, True]
    row = await _row(hotel, booked["confirmation_code"])
    assert await _nights(hotel, row.id) == _span(row.room_id, CI, date(2026, 12, 7))
    assert await _count(hotel, Message) == messages + 1


async def test_given_night_taken_between_planning_and_writing_then_no_longer_available_and_nothing_changed(
    hotel: Sessions, make_ctx: CtxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    await _only_std_room_left(hotel, row.room_id)
    planned = hotel_tools.rooms_for_change

    async def plan_then_lose_the_race(*a: Any, **k: Any) -> list[Room]:
        rooms = await planned(*a, **k)
        if rooms:  # another caller books the added night of this room right after we chose it
            await _block_night(hotel, row.room_id, CO, code="RACE01")
        return rooms

    monkeypatch.setattr(hotel_tools, "rooms_for_change", plan_then_lose_the_race)
    with pytest.raises(NotAvailable) as err:
        await REG.run(make_ctx(), "modify_reservation", {"check_out": "2026-12-06"})

    assert "no longer available" in err.value.message and "unchanged" in err.value.message
    after = await _row(hotel, booked["confirmation_code"])
    assert (after.check_out, after.total, after.room_id) == (CO, row.total, row.room_id)
    assert await _nights(hotel, row.id) == _span(row.room_id, CI, CO)
    assert (await _row(hotel, "RACE01")).room_id == row.room_id


async def test_given_own_room_lost_to_a_race_then_next_free_room_of_the_type_takes_the_whole_stay(
    hotel: Sessions, make_ctx: CtxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    planned = hotel_tools.rooms_for_change
    calls = 0

    async def plan_then_lose_own_room(*a: Any, **k: Any) -> list[Room]:
        nonlocal calls
        rooms = await planned(*a, **k)
        calls += 1
        if calls == 1:
            await _block_night(hotel, row.room_id, CO, code="RACE02")
        return rooms

    monkeypatch.setattr(hotel_tools, "rooms_for_change", plan_then_lose_own_room)
    result = await REG.run(make_ctx(), "modify_reservation", {"check_out": "2026-12-06"})

    after = await _row(hotel, booked["confirmation_code"])
    assert after.room_id != row.room_id and not result.data["same_room"]
    assert await _nights(hotel, row.id) == _span(after.room_id, CI, date(2026, 12, 6))
    assert after.total == await _expected(hotel, "STD", CI, date(2026, 12, 6))


async def test_given_extension_and_new_booking_race_for_the_same_night_then_exactly_one_wins(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    await _only_std_room_left(hotel, row.room_id)  # both want this room's night of 5 December

    results = await asyncio.gather(
        REG.run(make_ctx(session_id="m"), "modify_reservation", {"check_out": "2026-12-06"}),
        REG.run(
            make_ctx(session_id="n", caller=OTHER_PHONE),
            "create_reservation",
            {
                "check_in": "2026-12-05",
                "check_out": "2026-12-06",
                "adults": 1,
                "room_type": "STD",
                "guest_name": "Bo Li",
            },
        ),
        return_exceptions=True,
    )

    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1 and isinstance(losses[0], NotAvailable)
    async with hotel() as db:
        holders = (
            (
                await db.execute(
                    select(ReservationNight.reservation_id).where(
                        ReservationNight.room_id == row.room_id, ReservationNight.night == CO
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(holders) == 1
    after = await _row(hotel, booked["confirmation_code"])
    if wins[0].name == "modify_reservation":
        assert holders == [row.id] and after.check_out == date(2026, 12, 6)
        assert after.total == await _expected(hotel, "STD", CI, date(2026, 12, 6))
    else:
        assert holders != [row.id] and (after.check_out, after.total) == (CO, row.total)
        assert await _nights(hotel, row.id) == _span(row.room_id, CI, CO)


@SQLITE_ONLY
async def test_given_code_from_another_phone_then_name_decides_and_no_code_needs_a_known_line(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    code = booked["confirmation_code"]
    stranger = make_ctx(caller=OTHER_PHONE)
    for args in (
        {"confirmation_code": code, "check_out": "2026-12-06"},
        {"confirmation_code": code, "guest_name": "John Smith", "check_out": "2026-12-06"},
        {"check_out": "2026-12-06"},
    ):
        with pytest.raises(NotFound):
            await REG.run(stranger, "modify_reservation", args)
    assert (await _row(hotel, code)).check_out == CO

    done = await REG.run(
        stranger,
        "modify_reservation",
        {"confirmation_code": code, "guest_name": "doe", "check_out": "2026-12-06"},
    )
    assert done.data["changed"] and (await _row(hotel, code)).check_out == date(2026, 12, 6)


@SQLITE_ONLY
async def test_given_two_upcoming_bookings_and_no_code_then_asked_which_and_nothing_changed(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    first = await _book(make_ctx(session_id="one"))
    second = await _book(make_ctx(session_id="two"), check_in="2027-01-10", check_out="2027-01-12")
    with pytest.raises(InvalidArguments) as err:
        await REG.run(make_ctx(), "modify_reservation", {"adults": 1})
    assert "which confirmation code" in err.value.message
    assert set(err.value.data["confirmation_codes"]) == {
        first["confirmation_code"],
        second["confirmation_code"],
    }
    assert {(await _row(hotel, c["confirmation_code"])).adults for c in (first, second)} == {2}


RULE_BREAKERS: list[tuple[dict[str, Any], str]] = [
    ({"check_in": "2026-11-10"}, "in the past"),
    ({"check_out": "2026-12-02"}, "has to be after"),
    ({"check_in": "2026-12-06", "check_out": "2026-12-04"}, "has to be after"),
    ({"check_out": "2027-01-20"}, "at most 30 nights"),
    ({"adults": 9}, "at most 8 guests"),
    ({"adults": 3}, "sleeps at most 2"),
    ({"pets": True}, "Pets can't stay"),
    ({"room_type": "penthouse"}, "no room type called"),
    ({}, "Say what to change"),
    ({"adults": 0}, "adults"),
    ({"card_number": "4111111111111111"}, "not an argument"),
]


@SQLITE_ONLY
async def test_given_changes_breaking_a_rule_then_each_explained_and_booking_untouched(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    messages = await _count(hotel, Message)
    for change, fragment in RULE_BREAKERS:  # one database for all: the rules don't depend on it
        with pytest.raises(InvalidArguments) as err:
            await REG.run(
                make_ctx(), "modify_reservation", {"confirmation_code": booked["confirmation_code"], **change}
            )
        assert fragment in err.value.message and err.value.fault == "caller", (change, err.value.message)
        after = await _row(hotel, booked["confirmation_code"])
        assert (after.check_in, after.check_out, after.adults, after.pets, after.room_id, after.total) == (
            row.check_in, row.check_out, row.adults, row.pets, row.room_id, row.total,
        ), change  # fmt: skip
    assert (
        await _nights(hotel, row.id) == _span(row.room_id, CI, CO)
        and await _count(hotel, Message) == messages
    )


@SQLITE_ONLY
async def test_given_party_outgrows_the_room_then_a_larger_free_type_is_offered(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    with pytest.raises(InvalidArguments) as err:
        await REG.run(
            make_ctx(), "modify_reservation", {"confirmation_code": booked["confirmation_code"], "adults": 3}
        )
    alt = err.value.data["alternative"]
    assert alt["kind"] == "room_type" and alt["room_type"] == "DBL"
    assert Decimal(alt["total"]) == await _expected(hotel, "DBL", CI, CO)


@SQLITE_ONLY
async def test_given_whole_hotel_full_on_new_dates_then_nearest_dates_offered_and_nothing_changed(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    row = await _row(hotel, booked["confirmation_code"])
    async with hotel() as db:
        rooms = (await db.execute(select(Room.id))).scalars().all()
    for i, room_id in enumerate(rooms):
        await _block_night(hotel, room_id, date(2026, 12, 12), code=f"FULL{i:02d}")

    with pytest.raises(NotAvailable) as err:
        await REG.run(make_ctx(), "modify_reservation", {"check_in": "2026-12-11", "check_out": "2026-12-13"})

    alt = err.value.data["alternative"]
    assert alt["kind"] == "dates" and alt["room_type"] == "STD"
    assert date.fromisoformat(alt["check_in"]) >= date(2026, 12, 13) or date.fromisoformat(
        alt["check_out"]
    ) <= date(2026, 12, 12)
    after = await _row(hotel, booked["confirmation_code"])
    assert (after.check_in, after.check_out, after.total) == (CI, CO, row.total)
    assert await _nights(hotel, row.id) == _span(row.room_id, CI, CO)


@SQLITE_ONLY
async def test_given_cancelled_booking_then_it_cannot_be_changed(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    await REG.run(make_ctx(), "cancel_reservation", {"confirmation_code": booked["confirmation_code"]})
    with pytest.raises(InvalidArguments, match="cancelled"):
        await REG.run(
            make_ctx(), "modify_reservation", {"confirmation_code": booked["confirmation_code"], "adults": 1}
        )
    row = await _row(hotel, booked["confirmation_code"])
    assert row.status == ReservationStatus.CANCELLED and await _nights(hotel, row.id) == []


@SQLITE_ONLY
async def test_given_paid_by_link_when_total_changes_then_old_link_superseded_and_new_one_texted(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    old = await REG.run(
        make_ctx(), "generate_payment_link", {"confirmation_code": booked["confirmation_code"]}
    )

    await REG.run(make_ctx(), "modify_reservation", {"check_out": "2026-12-06"})

    async with hotel() as db:
        links = {pl.url: pl for pl in (await db.execute(select(PaymentLink))).scalars()}
        msg = (await db.execute(select(Message).order_by(Message.id.desc()))).scalars().first()
    assert links[old.data["url"]].status == "superseded"
    (fresh,) = [pl for pl in links.values() if pl.status == "active"]
    assert Decimal(fresh.amount) == await _expected(hotel, "STD", CI, date(2026, 12, 6))
    assert msg is not None and fresh.url in msg.body and old.data["url"] not in msg.body


def test_given_registry_then_modify_schema_is_valid_and_offered_to_the_model(settings: Settings) -> None:
    tool = next(t for t in REG.openai_tools() if t["function"]["name"] == "modify_reservation")
    params = tool["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(params)
    assert set(params["properties"]) == {
        "confirmation_code", "guest_name", "check_in", "check_out", "adults", "children", "pets", "room_type", "preview",
    }  # fmt: skip
    assert "required" not in params and params["additionalProperties"] is False
    jsonschema.validate({"confirmation_code": "ABC234", "check_out": "2026-12-06"}, params)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"adults": "three"}, params)
