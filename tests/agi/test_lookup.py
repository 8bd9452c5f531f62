"""The /lookup route over real TCP against a SQLite file: the dialplan gets the caller's details."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi.routes import lookup_caller, phone_key
from models.calls import VoiceCall
from models.hotel import Reservation, ReservationStatus, Room, RoomType


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    today = date.today()
    async with sessions.begin() as db:
        rt = RoomType(code="DBL", name="Double", capacity=2, base_rate=Decimal("120.00"))
        db.add(rt)
        await db.flush()
        room = Room(number="412", room_type_id=rt.id)
        db.add(room)
        await db.flush()

        def res(code: str, phone: str, days: int, status: str = ReservationStatus.CONFIRMED, name: str = "Ada Lovelace") -> Reservation:
            return Reservation(
                confirmation_code=code,
                guest_name=name,
                phone=phone,
                check_in=today + timedelta(days=days),
                check_out=today + timedelta(days=days + 2),
                room_type_id=rt.id,
                room_id=room.id,
                total=Decimal("240.00"),
                status=status,
            )

        db.add_all(
            [
                res("OLD1", "+44 20 7946 0018", -400),
                res("OLD2", "020 7946 0018", -200),
                res("NEXT", "+442079460018", 10),
                res("GONE", "+442079460018", 20, ReservationStatus.CANCELLED),
                res("ONCE", "+33 6 12 34 56 78", -30, name="Blaise Pascal"),
            ]
        )
        db.add(VoiceCall(session_id="s1", channel_id="c1", caller_id="+442079460018"))


def env_for(record: Any, route: str, caller: str) -> list[str]:
    out = []
    for line in record.env_lines:
        if line.startswith("agi_network_script:"):
            line = f"agi_network_script: {route}"
        elif line.startswith("agi_callerid:"):
            line = f"agi_callerid: {caller}"
        out.append(line)
    return out


def test_given_numbers_in_different_formats_then_same_phone_key() -> None:
    assert phone_key("+44 20 7946 0018") == phone_key("020 7946 0018") == phone_key("0044-20-7946-0018")
    assert phone_key("guest") == ""


async def test_given_returning_guest_when_lookup_route_called_then_name_vip_and_reservation_set(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sqlite_sessions)
    async with serve(ivr_routes) as server:
        session = await asterisk(
            server.bound_port, env_for(record, "lookup", "+442079460018"), lambda _c: ["200 result=1"]
        )
    assert session.commands == [
        'SET VARIABLE HOTEL_GUEST_NAME "Ada Lovelace"',
        "SET VARIABLE HOTEL_VIP 1",
        "SET VARIABLE HOTEL_RESERVATION NEXT",
    ]
    assert session.closed_by_server  # at once: the dialplan goes on only when we close


async def test_given_one_past_stay_when_lookup_then_known_but_not_vip_and_no_current_reservation(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sqlite_sessions)
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, env_for(record, "lookup", "0612345678"), lambda _c: ["200 result=1"])
    assert session.commands == [
        'SET VARIABLE HOTEL_GUEST_NAME "Blaise Pascal"',
        "SET VARIABLE HOTEL_VIP 0",
        'SET VARIABLE HOTEL_RESERVATION ""',
    ]


async def test_given_recorded_caller_guest_when_lookup_then_empty_values(
    record: Any, serve: Any, asterisk: Any, ivr_routes: Any, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sqlite_sessions)
    async with serve(ivr_routes) as server:
        session = await asterisk(server.bound_port, env_for(record, "lookup", "guest"), lambda _c: ["200 result=1"])
    assert session.commands == [
        'SET VARIABLE HOTEL_GUEST_NAME ""',
        "SET VARIABLE HOTEL_VIP 0",
        'SET VARIABLE HOTEL_RESERVATION ""',
    ]


async def test_given_cancelled_stays_when_looked_up_on_sqlite_and_postgres_then_not_counted(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(db_sessions)
    info = await lookup_caller(db_sessions, "+44 20 7946 0018", vip_min_stays=4)
    assert info.stays == 3 and not info.vip
    assert info.previous_calls == 1


def test_given_default_settings_when_server_built_then_port_4573_and_three_routes(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    from agi.routes import server_from_settings
    from ari_app.ivr import MenuStore
    from ari_app.settings import Settings

    settings = Settings()
    store = MenuStore.from_settings(settings)
    server = server_from_settings(settings, lambda: store.tree, sqlite_sessions)
    assert (server.host, server.port) == ("127.0.0.1", 4573)
    assert sorted(server.routes) == ["ivr", "lookup", "operator"]
    assert server.max_line == settings.ivr.agi_max_line
