"""The demo hotel: four room types, twenty rooms, base rates and a few holiday rate overrides.

Idempotent (rows are matched by their natural keys: type code, room number, type+night), so
``db seed`` can run on every deployment and a hotel that edits a rate keeps its edit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.hotel import RateOverride, Room, RoomType

# code, name, description, capacity, pets, base rate, room numbers
ROOM_TYPES: tuple[tuple[str, str, str, int, bool, str, tuple[str, ...]], ...] = (
    (
        "STD",
        "Standard Queen",
        "One queen bed, courtyard view.",
        2,
        False,
        "129.00",
        tuple(f"10{i}" for i in range(1, 9)),
    ),
    (
        "DBL",
        "Double Queen",
        "Two queen beds, pet friendly.",
        4,
        True,
        "159.00",
        tuple(f"20{i}" for i in range(1, 7)),
    ),
    ("KNG", "King Deluxe", "King bed and harbour view.", 2, False, "189.00", ("301", "302", "303", "304")),
    (
        "SUI",
        "Harbour Suite",
        "Separate living room, balcony, pet friendly.",
        4,
        True,
        "299.00",
        ("401", "402"),
    ),
)
HOLIDAY_UPLIFT = Decimal("1.40")


def holiday_nights(year: int) -> list[date]:
    """Christmas Eve to New Year's Eve, when the demo hotel charges more."""
    start = date(year, 12, 24)
    return [start + timedelta(days=i) for i in range(8)]


async def seed_demo_hotel(sessions: async_sessionmaker[AsyncSession], *, today: date | None = None) -> None:
    """Create what is missing of the demo hotel; overrides cover this year's and next year's holidays."""
    year = (today or datetime.now(UTC).date()).year
    async with sessions.begin() as db:
        existing = {rt.code: rt for rt in (await db.execute(select(RoomType))).scalars()}
        numbers = set((await db.execute(select(Room.number))).scalars())
        for code, name, desc, capacity, pets, rate, rooms in ROOM_TYPES:
            rt = existing.get(code)
            if rt is None:
                rt = RoomType(
                    code=code,
                    name=name,
                    description=desc,
                    capacity=capacity,
                    pets_allowed=pets,
                    base_rate=Decimal(rate),
                )
                db.add(rt)
                await db.flush()
            for number in rooms:
                if number not in numbers:
                    db.add(Room(number=number, room_type_id=rt.id, floor=int(number[0]), active=True))
                    numbers.add(number)
            have = set(
                (
                    await db.execute(select(RateOverride.night).where(RateOverride.room_type_id == rt.id))
                ).scalars()
            )
            for night in holiday_nights(year) + holiday_nights(year + 1):
                if night not in have:
                    uplifted = (Decimal(rt.base_rate) * HOLIDAY_UPLIFT).quantize(Decimal("1"))
                    db.add(RateOverride(room_type_id=rt.id, night=night, rate=uplifted))
