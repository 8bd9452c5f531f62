"""Hotel tools through the registry, on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import Settings
from ari_app.tools import (
    HOTEL_TOOLS,
    InvalidArguments,
    NotAvailable,
    NotConfigured,
    NotFound,
    ToolContext,
    ToolRegistry,
    UnknownTool,
)
from ari_app.tools.payment import verify_payment_token
from models.calls import ToolRun
from models.hotel import (
    Callback,
    Message,
    PaymentLink,
    RateOverride,
    Reservation,
    ReservationNight,
    ReservationStatus,
    Room,
    RoomType,
)
from models.seed import seed_demo_hotel

Sessions = async_sessionmaker[AsyncSession]
CtxFactory = Callable[..., ToolContext]
STAY = {"check_in": "2026-12-03", "check_out": "2026-12-05", "adults": 2}
REG = ToolRegistry()


async def _count(sessions: Sessions, model: Any) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def _book(ctx: ToolContext, **over: Any) -> dict[str, Any]:
    args = {**STAY, "room_type": "STD", "guest_name": "Jane Doe", **over}
    return (await REG.run(ctx, "create_reservation", args)).data


async def test_given_seed_run_twice_then_demo_hotel_exists_once(hotel: Sessions) -> None:
    await seed_demo_hotel(hotel, today=date(2026, 11, 20))
    assert await _count(hotel, Room) == 20 and await _count(hotel, RoomType) == 4
    assert await _count(hotel, RateOverride) == 4 * 16


async def test_given_stay_with_override_night_then_total_sums_nightly_rates(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    res = await REG.run(
        make_ctx(), "check_availability", {"check_in": "2026-12-23", "check_out": "2026-12-26", "adults": 2}
    )
    std = next(o for o in res.data["options"] if o["room_type"] == "STD")
    async with hotel() as db:
        rt = (await db.execute(select(RoomType).where(RoomType.code == "STD"))).scalar_one()
        over = {
            o.night: o.rate
            for o in (
                await db.execute(select(RateOverride).where(RateOverride.room_type_id == rt.id))
            ).scalars()
        }
    nights = [date(2026, 12, 23) + timedelta(days=i) for i in range(3)]
    assert [Decimal(n["rate"]) for n in std["nightly"]] == [over.get(n, rt.base_rate) for n in nights]
    assert Decimal(std["total"]) == sum((over.get(n, rt.base_rate) for n in nights), Decimal(0))
    assert (
        Decimal(std["nightly"][0]["rate"]) == rt.base_rate
        and Decimal(std["nightly"][1]["rate"]) > rt.base_rate
    )


async def test_given_type_full_on_one_middle_night_then_not_offered(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    async with hotel.begin() as db:
        await db.execute(
            update(Room)
            .where(Room.room_type_id == select(RoomType.id).where(RoomType.code == "KNG").scalar_subquery())
            .values(active=False)
        )
    res = await REG.run(
        make_ctx(), "check_availability", {"check_in": "2026-12-03", "check_out": "2026-12-06", "adults": 1}
    )
    assert "KNG" not in {o["room_type"] for o in res.data["options"]}
    ctx = make_ctx()
    for i in range(8):  # every Standard Queen taken on the 4th only
        await _book(
            ctx, check_in="2026-12-04", check_out="2026-12-05", guest_name="Block", idempotency_key=f"k{i}"
        )
    res = await REG.run(
        make_ctx(), "check_availability", {"check_in": "2026-12-03", "check_out": "2026-12-06", "adults": 1}
    )
    assert "STD" not in {o["room_type"] for o in res.data["options"]}
    assert {o["room_type"] for o in res.data["options"]} == {"DBL", "SUI"}


async def test_given_same_request_retried_then_one_booking(hotel: Sessions, make_ctx: CtxFactory) -> None:
    ctx = make_ctx()
    first = await _book(ctx)
    again = await _book(ctx)
    assert again["confirmation_code"] == first["confirmation_code"] and again["already_booked"]
    assert await _count(hotel, Reservation) == 1 and await _count(hotel, ReservationNight) == 2
    other_call = await _book(make_ctx(session_id="sess-2"))  # a different call is a different booking
    assert other_call["confirmation_code"] != first["confirmation_code"]


async def test_given_two_callers_race_for_last_room_then_exactly_one_wins(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    async with hotel.begin() as db:
        suite = (await db.execute(select(RoomType).where(RoomType.code == "SUI"))).scalar_one()
        rooms = (
            (await db.execute(select(Room).where(Room.room_type_id == suite.id).order_by(Room.number)))
            .scalars()
            .all()
        )
        for room in rooms[1:]:
            room.active = False  # one suite left
    a = REG.run(
        make_ctx(session_id="a"), "create_reservation", {**STAY, "room_type": "SUI", "guest_name": "Ann Able"}
    )
    b = REG.run(
        make_ctx(session_id="b"),
        "create_reservation",
        {**STAY, "room_type": "SUI", "guest_name": "Bob Baker"},
    )
    results = await asyncio.gather(a, b, return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], NotAvailable) and "no longer available" in losses[0].message
    assert await _count(hotel, Reservation) == 1 and await _count(hotel, ReservationNight) == 2


async def test_given_booked_room_taken_then_next_free_room_of_type_used(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    codes = [await _book(make_ctx(session_id=f"s{i}"), room_type="SUI") for i in range(2)]
    async with hotel() as db:
        rooms = {r.room_id for r in (await db.execute(select(Reservation))).scalars()}
    assert len(rooms) == 2 and codes[0]["confirmation_code"] != codes[1]["confirmation_code"]
    with pytest.raises(NotAvailable):
        await _book(make_ctx(session_id="s3"), room_type="SUI")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({**STAY, "check_in": "1999-12-03", "check_out": "1999-12-05"}, "in the past"),
        ({**STAY, "adults": 40}, "at most 8 guests"),
        ({**STAY, "check_in": "2026-12-05", "check_out": "2026-12-03"}, "has to be after"),
        ({**STAY, "check_out": "2027-02-03"}, "at most 30 nights"),
        ({**STAY, "adults": 0}, "adults"),
        ({**STAY, "check_in": "next tuesday"}, "check_in"),
        ({**STAY, "guest_name": "Robert'); DROP TABLE reservations;--"}, "letters only"),
        (
            {**STAY, "room_type": "STD", "guest_name": "Al Bo", "card_number": "4111111111111111"},
            "not an argument",
        ),
    ],
)
async def test_given_bad_booking_arguments_then_tool_error_and_nothing_booked(
    hotel: Sessions, make_ctx: CtxFactory, args: dict[str, Any], fragment: str
) -> None:
    args = {"room_type": "STD", "guest_name": "Jane Doe", **args}
    with pytest.raises(InvalidArguments) as err:
        await REG.run(make_ctx(), "create_reservation", args)
    assert fragment in err.value.message and err.value.fault == "caller" and not err.value.retryable
    assert await _count(hotel, Reservation) == 0
    async with hotel() as db:
        run = (await db.execute(select(ToolRun))).scalar_one()
    assert not run.ok and "4111111111111111" not in str(run.arguments)


async def test_given_tool_run_on_a_call_then_recorded_with_latency_and_listed_on_call(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    from models.store import CallStore

    store = CallStore(hotel)
    call_id = await store.open_call(session_id="rec", channel_id="c")
    ctx = make_ctx(call_id=call_id, session_id="rec")
    result = await REG.run(ctx, "hotel_info", {"topic": "parking"})
    assert result.latency_ms > 0 and "garage" in result.summary
    call = await store.get_call(call_id)
    assert call is not None and call.tools_executed == ["hotel_info"]
    with pytest.raises(UnknownTool):
        await REG.run(ctx, "drop_tables", {})


async def test_given_cancel_then_nights_freed_and_status_cancelled(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    with pytest.raises(NotFound):  # a stranger with the code but not the name or phone
        await REG.run(
            make_ctx(caller="+14155550000"),
            "cancel_reservation",
            {"confirmation_code": booked["confirmation_code"]},
        )
    res = await REG.run(make_ctx(), "cancel_reservation", {"confirmation_code": booked["confirmation_code"]})
    assert res.data["cancelled"] and res.data["fee"] == "0"
    assert await _count(hotel, ReservationNight) == 0
    async with hotel() as db:
        assert (await db.execute(select(Reservation.status))).scalar_one() == ReservationStatus.CANCELLED


async def test_given_payment_link_then_signed_expiring_and_stored(
    hotel: Sessions, make_ctx: CtxFactory, settings: Settings
) -> None:
    booked = await _book(make_ctx())
    res = await REG.run(
        make_ctx(), "generate_payment_link", {"confirmation_code": booked["confirmation_code"]}
    )
    url = res.data["url"]
    assert url.startswith(settings.hotel.payment_page_url + "?token=")
    token = url.split("token=", 1)[1]
    secret = settings.hotel.payment_link_secret.get_secret_value()
    payload = verify_payment_token(secret, token)
    assert Decimal(payload["a"]) == Decimal(booked["total"])
    with pytest.raises(InvalidArguments):
        verify_payment_token("other-secret", token)
    with pytest.raises(InvalidArguments):
        verify_payment_token(secret, token, now=datetime.now(UTC) + timedelta(days=30))
    again = await REG.run(
        make_ctx(), "generate_payment_link", {"confirmation_code": booked["confirmation_code"]}
    )
    assert again.data["url"] == url and await _count(hotel, PaymentLink) == 1
    sms = await REG.run(
        make_ctx(), "send_sms_confirmation", {"confirmation_code": booked["confirmation_code"]}
    )
    async with hotel() as db:
        msg = (await db.execute(select(Message))).scalar_one()
    assert (
        msg.id == sms.data["message_id"]
        and msg.status == "pending"
        and booked["confirmation_code"] in msg.body
        and url in msg.body
    )
    settings.hotel.payment_link_secret = type(settings.hotel.payment_link_secret)("")
    with pytest.raises(NotConfigured):
        await REG.run(make_ctx(), "generate_payment_link", {"confirmation_code": booked["confirmation_code"]})


async def test_given_callback_times_then_future_stored_and_past_rejected(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    res = await REG.run(
        make_ctx(),
        "schedule_callback",
        {"phone": "555 123 0134", "when": "2026-11-21T09:30", "reason": "rates"},
    )
    async with hotel() as db:
        cb = (await db.execute(select(Callback))).scalar_one()
    assert cb.due_at == datetime(2026, 11, 21, 14, 30, tzinfo=UTC) and cb.id == res.data["callback_id"]
    with pytest.raises(InvalidArguments, match="past"):
        await REG.run(make_ctx(), "schedule_callback", {"phone": "5551230134", "when": "2026-11-19T09:30"})
    with pytest.raises(InvalidArguments, match="7 to 15 digits"):
        await REG.run(make_ctx(), "schedule_callback", {"phone": "12", "when": "2026-11-21T09:30"})


async def test_given_actions_then_transfer_hold_hangup_and_unknown_department_refused(
    make_ctx: CtxFactory, settings: Settings
) -> None:
    t = await REG.run(make_ctx(), "transfer_to_human", {"department": "Manager"})
    assert (
        t.action is not None
        and t.action.kind == "transfer"
        and t.action.data["extension"] == settings.hotel.departments["manager"]
    )
    h = await REG.run(make_ctx(), "play_hold_music", {"seconds": 20})
    assert h.action is not None and h.action.kind == "hold" and h.action.data["seconds"] == 20
    e = await REG.run(make_ctx(), "end_call", {})
    assert e.action is not None and e.action.kind == "hangup"
    with pytest.raises(InvalidArguments, match="front desk"):
        await REG.run(make_ctx(), "transfer_to_human", {"department": "spa"})
    with pytest.raises(InvalidArguments):
        await REG.run(make_ctx(), "play_hold_music", {"seconds": 3600})


async def test_given_history_and_lookup_then_returning_guest_found(
    hotel: Sessions, make_ctx: CtxFactory
) -> None:
    booked = await _book(make_ctx())
    hist = await REG.run(make_ctx(caller=""), "get_caller_history", {"phone": "(555) 123-0134"})
    assert (
        hist.data["known"]
        and hist.data["first_name"] == "Jane"
        and hist.data["upcoming"][0]["confirmation_code"] == booked["confirmation_code"]
    )
    new = await REG.run(make_ctx(), "get_caller_history", {"phone": "+1 415 555 0000"})
    assert not new.data["known"] and new.data["name"] == ""
    found = await REG.run(make_ctx(), "find_reservation", {"phone": "5551230134"})
    assert found.data["reservations"][0]["confirmation_code"] == booked["confirmation_code"]
    with pytest.raises(NotFound):
        await REG.run(make_ctx(), "find_reservation", {"confirmation_code": "ZZZZZZ"})
    with pytest.raises(InvalidArguments):
        await REG.run(make_ctx(), "find_reservation", {})
    with pytest.raises(NotFound):
        await REG.run(make_ctx(), "hotel_info", {"topic": "helicopter pad"})
    lead = await REG.run(make_ctx(), "create_lead", {"name": "Sam", "interest": "wedding block in June"})
    assert lead.data["lead_id"] > 0


def test_given_every_tool_then_schema_is_valid_json_schema_and_openai_shaped() -> None:
    tools = REG.openai_tools()
    assert {t["function"]["name"] for t in tools} == {s.name for s in HOTEL_TOOLS}
    for tool in tools:
        params = tool["function"]["parameters"]
        jsonschema.Draft202012Validator.check_schema(params)
        assert tool["type"] == "function" and params["type"] == "object" and tool["function"]["description"]
    booking = next(t for t in tools if t["function"]["name"] == "create_reservation")["function"][
        "parameters"
    ]
    jsonschema.validate({**STAY, "room_type": "STD", "guest_name": "A B"}, booking)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**STAY, "room_type": "STD"}, booking)


def test_given_many_confirmation_codes_then_each_mixes_letters_and_digits_without_lookalikes() -> None:
    from ari_app.tools.hotel import new_confirmation_code

    codes = [new_confirmation_code() for _ in range(2000)]
    assert all(any(c.isdigit() for c in code) and any(c.isalpha() for c in code) for code in codes)
    assert not set("".join(codes)) & set("0O1I5S8B")
