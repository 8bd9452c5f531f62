"""The hotel tools: plain async functions over the database, each taking validated arguments.

Each function opens its own short transactions, so a tool call from one conversation never holds a
lock while another caller waits. Double booking is left to the database (unique room-night rows):
the tool only chooses which free room to try and moves on to the next when it loses a race.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_app.tools.errors import InvalidArguments, NotAvailable, NotConfigured, NotFound, ToolFailure
from ari_app.tools.payment import sign_payment_token
from ari_app.tools.schemas import (
    AvailabilityArgs,
    CallbackArgs,
    CancelArgs,
    CodeArgs,
    EndCallArgs,
    FindReservationArgs,
    HoldArgs,
    HotelInfoArgs,
    LeadArgs,
    ModifyArgs,
    PhoneArgs,
    ReservationArgs,
    SmsArgs,
    TransferArgs,
    normalize_phone,
    spoken_date,
    stay_problem,
)
from ari_app.tools.types import Action, ToolContext, ToolResult
from models.calls import VoiceCall
from models.hotel import (
    Callback,
    JobStatus,
    Lead,
    Message,
    PaymentLink,
    RateOverride,
    Reservation,
    ReservationNight,
    ReservationStatus,
    Room,
    RoomType,
)

log = logging.getLogger(__name__)

_CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # no look-alikes (0/O, 1/I, 5/S, 8/B) for reading aloud
_CURRENCY_WORDS = {"USD": ("dollars", "cents"), "EUR": ("euros", "cents"), "GBP": ("pounds", "pence")}


def new_confirmation_code() -> str:
    """Six characters with at least one letter and one digit, so it never reads as a word or a number."""
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def spoken_money(amount: Decimal, currency: str) -> str:
    whole, cents = divmod(int((amount * 100).to_integral_value()), 100)
    major, minor = _CURRENCY_WORDS.get(currency, (currency, "hundredths"))
    return f"{whole} {major}" + (f" and {cents} {minor}" if cents else "")


def spoken_code(code: str) -> str:
    return " ".join(code)


def short_date(d: date) -> str:
    day = d.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{d:%A} {d:%B} {day}{suffix}"


def _phone_key(phone: str) -> str:
    """Last ten digits: the same line written with or without a country code compares equal."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-10:]


def _caller_phone(ctx: ToolContext) -> str:
    try:
        return normalize_phone(ctx.caller_number) if ctx.caller_number else ""
    except ValueError:
        return ""


def _nights(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


# --------------------------------------------------------------------------------------- queries


async def room_types(db: AsyncSession) -> list[RoomType]:
    return list((await db.execute(select(RoomType).order_by(RoomType.base_rate))).scalars())


def match_room_type(types: list[RoomType], wanted: str) -> RoomType | None:
    """By code, exact name, or a distinctive word of the name ("suite", "king")."""
    key = wanted.strip().lower()
    for rt in types:
        if key in (rt.code.lower(), rt.name.lower()):
            return rt
    hits = [rt for rt in types if any(w in rt.name.lower().split() for w in key.split())]
    return hits[0] if len(hits) == 1 else None


async def _rates(
    db: AsyncSession, type_ids: list[int], check_in: date, check_out: date
) -> dict[tuple[int, date], Decimal]:
    rows = await db.execute(
        select(RateOverride.room_type_id, RateOverride.night, RateOverride.rate).where(
            RateOverride.room_type_id.in_(type_ids),
            RateOverride.night >= check_in,
            RateOverride.night < check_out,
        )
    )
    return {(r[0], r[1]): Decimal(r[2]) for r in rows}


async def _free_rooms(
    db: AsyncSession,
    check_in: date,
    check_out: date,
    type_id: int | None = None,
    *,
    exclude_reservation: int | None = None,
) -> dict[int, list[Room]]:
    """Rooms with no booked night in the range; a booking being changed doesn't block itself."""
    booked = select(ReservationNight.room_id).where(
        ReservationNight.night >= check_in, ReservationNight.night < check_out
    )
    if exclude_reservation is not None:
        booked = booked.where(ReservationNight.reservation_id != exclude_reservation)
    q = select(Room).where(Room.active.is_(True), Room.id.not_in(booked)).order_by(Room.number)
    if type_id is not None:
        q = q.where(Room.room_type_id == type_id)
    out: dict[int, list[Room]] = defaultdict(list)
    for room in (await db.execute(q)).scalars():
        out[room.room_type_id].append(room)
    return out


@dataclass(frozen=True)
class Quote:
    room_type: RoomType
    nightly: list[tuple[date, Decimal]]  # the rate of one room
    free_rooms: int
    rooms: int = 1

    @property
    def room_total(self) -> Decimal:
        return sum((rate for _, rate in self.nightly), Decimal("0"))

    @property
    def total(self) -> Decimal:
        return self.room_total * self.rooms

    def as_data(self, currency: str) -> dict[str, Any]:
        return {
            "room_type": self.room_type.code,
            "name": self.room_type.name,
            "capacity": self.room_type.capacity,
            "pets_allowed": self.room_type.pets_allowed,
            "free_rooms": self.free_rooms,
            "rooms": self.rooms,
            "nightly": [{"night": n.isoformat(), "rate": str(r)} for n, r in self.nightly],
            "room_total": str(self.room_total),
            "total": str(self.total),
            "currency": currency,
        }


def rooms_needed(guests: int, capacity: int) -> int:
    """Fewest rooms of a type that sleep the party, guests spread as evenly as the rooms allow."""
    return max(1, -(-guests // max(1, capacity)))


async def quote(
    db: AsyncSession,
    check_in: date,
    check_out: date,
    guests: int,
    pets: bool,
    only: RoomType | None = None,
    *,
    exclude_reservation: int | None = None,
    rooms: int = 1,
) -> list[Quote]:
    """Room types that sleep the party in ``rooms`` rooms and have that many rooms free on every
    night, cheapest first."""
    types = [only] if only else await room_types(db)
    fitting = [t for t in types if t.capacity * rooms >= guests and (t.pets_allowed or not pets)]
    if not fitting:
        return []
    free = await _free_rooms(
        db, check_in, check_out, only.id if only else None, exclude_reservation=exclude_reservation
    )
    rates = await _rates(db, [t.id for t in fitting], check_in, check_out)
    quotes = []
    for t in fitting:
        if len(free.get(t.id, [])) >= rooms:
            nightly = [(n, rates.get((t.id, n), Decimal(t.base_rate))) for n in _nights(check_in, check_out)]
            quotes.append(Quote(room_type=t, nightly=nightly, free_rooms=len(free[t.id]), rooms=rooms))
    return sorted(quotes, key=lambda q: q.total)


async def _stay_total(db: AsyncSession, rt: RoomType, check_in: date, check_out: date) -> Decimal:
    """Base rate per night unless a date override says otherwise: one rule for booking and changing."""
    rates = await _rates(db, [rt.id], check_in, check_out)
    return sum(
        (rates.get((rt.id, n), Decimal(rt.base_rate)) for n in _nights(check_in, check_out)), Decimal("0")
    )


# --------------------------------------------------------------------------------------- tools


async def check_availability(ctx: ToolContext, args: AvailabilityArgs) -> ToolResult:
    currency = ctx.settings.hotel.currency
    guests = args.adults + args.children
    async with ctx.sessions() as db:
        types = await room_types(db)
        only = None
        if args.room_type:
            only = match_room_type(types, args.room_type)
            if only is None:
                raise InvalidArguments(
                    f"We have no room type called {args.room_type}; we have {', '.join(t.name for t in types)}."
                )
        biggest = max((t.capacity for t in ([only] if only else types)), default=0)
        if biggest * args.rooms < guests:
            need = rooms_needed(guests, biggest)
            raise NotAvailable(
                f"Our largest room sleeps {biggest}; a party of {guests} needs {need} rooms."
                if args.rooms == 1
                else f"{args.rooms} rooms sleep at most {biggest * args.rooms}; a party of {guests} needs {need}.",
                data={"rooms_needed": need},
            )
        quotes = await quote(db, args.check_in, args.check_out, guests, args.pets, only, rooms=args.rooms)
        alternative = None
        if not quotes:
            alternative = await _nearest_alternative(ctx, db, args, guests, only)
    data: dict[str, Any] = {
        "check_in": args.check_in.isoformat(),
        "check_out": args.check_out.isoformat(),
        "nights": args.nights,
        "rooms": args.rooms,
        "options": [q.as_data(currency) for q in quotes],
        "alternative": alternative,
    }
    when = f"{short_date(args.check_in)} to {short_date(args.check_out)}"
    if quotes:
        best = quotes[0]
        summary = (
            f"For {when} we have {len(quotes)} room type{'s' if len(quotes) > 1 else ''} free; "
            f"the {best.room_type.name} is {spoken_money(best.total, currency)} in total."
        )
    else:
        why = " with a pet" if args.pets else ""
        summary = f"Sorry, nothing is free{why} for {when}."
        if alternative:
            summary += (
                f" The nearest I have is {short_date(date.fromisoformat(alternative['check_in']))} to "
                f"{short_date(date.fromisoformat(alternative['check_out']))} in the {alternative['name']}."
            )
    return ToolResult("check_availability", data, summary)


async def _nearest_alternative(
    ctx: ToolContext, db: AsyncSession, args: AvailabilityArgs, guests: int, only: RoomType | None
) -> dict[str, Any] | None:
    today = ctx.today()
    for shift in (1, -1, 2, -2, 3, -3, 4, 5, 6, 7):
        ci = args.check_in + timedelta(days=shift)
        if ci < today:
            continue
        co = ci + timedelta(days=args.nights)
        quotes = await quote(db, ci, co, guests, args.pets, only, rooms=args.rooms)
        if quotes:
            q = quotes[0]
            return {
                "check_in": ci.isoformat(),
                "check_out": co.isoformat(),
                "room_type": q.room_type.code,
                "name": q.room_type.name,
                "total": str(q.total),
            }
    return None


def _derive_key(ctx: ToolContext, args: ReservationArgs) -> str | None:
    if args.idempotency_key:
        return args.idempotency_key
    if not ctx.session_id:
        return None
    material = json.dumps(
        [ctx.session_id, args.model_dump(mode="json", exclude={"idempotency_key"})], sort_keys=True
    )
    return "auto:" + hashlib.sha256(material.encode()).hexdigest()[:40]


def _reservation_data(res: Reservation, type_name: str, *, already: bool = False) -> dict[str, Any]:
    return {
        "confirmation_code": res.confirmation_code,
        "status": res.status,
        "guest_name": res.guest_name,
        "phone": res.phone,
        "email": res.email,
        "check_in": res.check_in.isoformat(),
        "check_out": res.check_out.isoformat(),
        "nights": (res.check_out - res.check_in).days,
        "adults": res.adults,
        "children": res.children,
        "pets": res.pets,
        "rooms": res.rooms,
        "room_type": type_name,
        "total": str(Decimal(res.total)),
        "currency": res.currency,
        "already_booked": already,
    }


async def _by_key(ctx: ToolContext, key: str) -> tuple[Reservation, str] | None:
    async with ctx.sessions() as db:
        row = (
            await db.execute(
                select(Reservation, RoomType.name)
                .join(RoomType, RoomType.id == Reservation.room_type_id)
                .where(Reservation.idempotency_key == key)
            )
        ).first()
        return (row[0], row[1]) if row else None


def _booked_result(res: Reservation, type_name: str, currency: str, *, already: bool) -> ToolResult:
    what = f"{res.rooms} rooms, {type_name}" if res.rooms > 1 else type_name
    summary = (
        f"Booked: {what} for {res.guest_name}, {short_date(res.check_in)} to {short_date(res.check_out)}, "
        f"{spoken_money(Decimal(res.total), currency)} in total. Confirmation code {spoken_code(res.confirmation_code)}."
    )
    return ToolResult("create_reservation", _reservation_data(res, type_name, already=already), summary)


async def create_reservation(ctx: ToolContext, args: ReservationArgs) -> ToolResult:
    currency = ctx.settings.hotel.currency
    key = _derive_key(ctx, args)
    if key and (found := await _by_key(ctx, key)):
        return _booked_result(found[0], found[1], currency, already=True)
    guests = args.adults + args.children
    async with ctx.sessions() as db:
        types = await room_types(db)
        rt = match_room_type(types, args.room_type)
        if rt is None:
            raise InvalidArguments(
                f"We have no room type called {args.room_type}; we have {', '.join(t.name for t in types)}."
            )
        if rt.capacity * args.rooms < guests:
            what = f"The {rt.name}" if args.rooms == 1 else f"{args.rooms} rooms of the {rt.name} type"
            raise InvalidArguments(f"{what} sleeps at most {rt.capacity * args.rooms}, not {guests}.")
        if args.pets and not rt.pets_allowed:
            raise InvalidArguments(
                f"Pets can't stay in the {rt.name}; they're welcome in rooms that allow pets."
            )
        total = await _stay_total(db, rt, args.check_in, args.check_out) * args.rooms
    nights = _nights(args.check_in, args.check_out)
    phone = args.phone or _caller_phone(ctx)
    tried: set[int] = set()
    collisions = 0
    while True:
        async with ctx.sessions() as db:
            free = (await _free_rooms(db, args.check_in, args.check_out, rt.id)).get(rt.id, [])
        candidates = [r for r in free if r.id not in tried]
        if len(candidates) < args.rooms:
            what = f"the {rt.name}" if args.rooms == 1 else f"{args.rooms} rooms of the {rt.name} type"
            raise NotAvailable(
                f"Sorry, {what} {'is' if args.rooms == 1 else 'are'} no longer available for "
                f"{short_date(args.check_in)} to {short_date(args.check_out)}."
            )
        chosen = candidates[: args.rooms]
        room = chosen[0]
        res = Reservation(
            confirmation_code=new_confirmation_code(),
            guest_name=args.guest_name,
            phone=phone,
            email=args.email or "",
            check_in=args.check_in,
            check_out=args.check_out,
            adults=args.adults,
            children=args.children,
            pets=args.pets,
            rooms=args.rooms,
            room_type_id=rt.id,
            room_id=room.id,
            status=ReservationStatus.CONFIRMED,
            total=total,
            currency=currency,
            idempotency_key=key,
            call_session_id=ctx.session_id,
        )
        try:
            async with ctx.sessions.begin() as db:
                db.add(res)
                await db.flush()
                db.add_all(
                    ReservationNight(reservation_id=res.id, room_id=r.id, night=n) for r in chosen for n in nights
                )
        except IntegrityError:
            if key and (found := await _by_key(ctx, key)):
                return _booked_result(found[0], found[1], currency, already=True)
            async with ctx.sessions() as db:
                now_free = {
                    r.id for r in (await _free_rooms(db, args.check_in, args.check_out, rt.id)).get(rt.id, [])
                }
            lost = {r.id for r in chosen} - now_free
            if not lost:
                collisions += 1  # the random confirmation code clashed; draw another
                if collisions > 3:
                    raise ToolFailure("Could not allocate a confirmation code; please try again.") from None
            tried |= lost  # another caller took these rooms: try the next free ones
            continue
        if ctx.store is not None and ctx.call_id is not None:
            await ctx.store.update_call(ctx.call_id, reservation_id=res.id)
        return _booked_result(res, rt.name, currency, already=False)


async def _reservation_by_code(db: AsyncSession, code: str) -> tuple[Reservation, str] | None:
    row = (
        await db.execute(
            select(Reservation, RoomType.name)
            .join(RoomType, RoomType.id == Reservation.room_type_id)
            .where(Reservation.confirmation_code == code)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def find_reservation(ctx: ToolContext, args: FindReservationArgs) -> ToolResult:
    async with ctx.sessions() as db:
        found: list[tuple[Reservation, str]] = []
        if args.confirmation_code:
            hit = await _reservation_by_code(db, args.confirmation_code)
            if hit:
                found.append(hit)
        elif args.phone:
            key = _phone_key(args.phone)
            rows = await db.execute(
                select(Reservation, RoomType.name)
                .join(RoomType, RoomType.id == Reservation.room_type_id)
                .where(Reservation.phone.like(f"%{key}"), Reservation.check_out >= ctx.today())
                .order_by(Reservation.check_in)
            )
            found = [(r[0], r[1]) for r in rows]
    if not found:
        raise NotFound("I couldn't find a booking with those details.")
    data = {"reservations": [_reservation_data(r, n) for r, n in found]}
    r, n = found[0]
    summary = (
        f"Found booking {spoken_code(r.confirmation_code)} for {r.guest_name}: {n}, "
        f"{short_date(r.check_in)} to {short_date(r.check_out)}, {r.status}."
    )
    return ToolResult("find_reservation", data, summary)


def name_matches(given: str, on_booking: str) -> bool:
    """A surname or first name is enough: callers rarely say the name exactly as it was typed."""
    words = {w for w in given.lower().split() if len(w) >= 2}
    return bool(words & set(on_booking.lower().split()))


def _identity_matches(ctx: ToolContext, res: Reservation, args: CancelArgs) -> bool:
    res_phone = _phone_key(res.phone)
    for phone in (args.phone, ctx.caller_number):
        if phone and res_phone and _phone_key(phone) == res_phone:
            return True
    if args.guest_name:
        return name_matches(args.guest_name, res.guest_name)
    return False


async def cancel_reservation(ctx: ToolContext, args: CancelArgs) -> ToolResult:
    currency = ctx.settings.hotel.currency
    async with ctx.sessions() as db:
        hit = await _reservation_by_code(db, args.confirmation_code)
    if hit is None or not _identity_matches(ctx, hit[0], args):
        raise NotFound("I couldn't find a booking with that code and name or phone number.")
    res, type_name = hit
    if res.status == ReservationStatus.CANCELLED:
        data = _reservation_data(res, type_name) | {"cancelled": True, "fee": "0", "already_cancelled": True}
        return ToolResult(
            "cancel_reservation", data, f"Booking {spoken_code(res.confirmation_code)} was already cancelled."
        )
    if res.check_out <= ctx.today():
        raise InvalidArguments("That stay is already over, so it can't be cancelled.")
    arrival = datetime.combine(res.check_in, ctx.facts.check_in_time, tzinfo=ctx.tz)
    deadline = arrival - timedelta(hours=ctx.settings.hotel.cancellation_free_hours)
    fee = Decimal("0")
    if ctx.now() > deadline:
        async with ctx.sessions() as db:
            rt = await db.get(RoomType, res.room_type_id)
            rates = await _rates(db, [res.room_type_id], res.check_in, res.check_in + timedelta(days=1))
        fee = rates.get((res.room_type_id, res.check_in), Decimal(rt.base_rate) if rt else Decimal(res.total))
        if not args.accept_fee:
            data = _reservation_data(res, type_name) | {
                "cancelled": False,
                "fee": str(fee),
                "needs_fee_agreement": True,
            }
            summary = (
                f"It's less than {ctx.settings.hotel.cancellation_free_hours} hours before arrival, so cancelling "
                f"costs the first night, {spoken_money(fee, currency)}. Shall I go ahead?"
            )
            return ToolResult("cancel_reservation", data, summary)
    async with ctx.sessions.begin() as db:
        row = await db.get(Reservation, res.id)
        if row is None:
            raise NotFound("I couldn't find a booking with that code.")
        row.status = ReservationStatus.CANCELLED
        row.cancelled_at = datetime.now(UTC)
        await db.execute(delete(ReservationNight).where(ReservationNight.reservation_id == res.id))
    res.status = ReservationStatus.CANCELLED
    if ctx.store is not None and ctx.call_id is not None:
        # the cancelling call points at the booking it cancelled, as the booking call does
        await ctx.store.update_call(ctx.call_id, reservation_id=res.id)
    data = _reservation_data(res, type_name) | {"cancelled": True, "fee": str(fee)}
    summary = f"Booking {spoken_code(res.confirmation_code)} is cancelled"
    summary += f", with a fee of {spoken_money(fee, currency)}." if fee else " free of charge."
    return ToolResult("cancel_reservation", data, summary)


# --------------------------------------------------------------------------------------- changing a booking


@dataclass(frozen=True)
class Stay:
    """The changeable part of a booking, so a change can be priced and reported as before and after."""

    check_in: date
    check_out: date
    adults: int
    children: int
    pets: bool
    room_type: RoomType

    @classmethod
    def of(cls, res: Reservation, rt: RoomType) -> Stay:
        return cls(res.check_in, res.check_out, res.adults, res.children, res.pets, rt)

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def guests(self) -> int:
        return self.adults + self.children

    def as_data(self, total: Decimal) -> dict[str, Any]:
        return {
            "check_in": self.check_in.isoformat(),
            "check_out": self.check_out.isoformat(),
            "nights": self.nights,
            "adults": self.adults,
            "children": self.children,
            "pets": self.pets,
            "room_type": self.room_type.code,
            "room_type_name": self.room_type.name,
            "total": str(total),
        }


class _Stale(Exception):
    """The booking changed between reading it and writing the change (another request won)."""


def _guests_words(adults: int, children: int) -> str:
    text = f"{adults} adult{'s' if adults != 1 else ''}"
    if children:
        text += f" and {children} {'child' if children == 1 else 'children'}"
    return text


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:] + "."


def _caller_owns(ctx: ToolContext, res: Reservation) -> bool:
    caller, booked = _phone_key(ctx.caller_number), _phone_key(res.phone)
    return bool(caller) and len(caller) >= 7 and caller == booked


async def _reservation_for_change(ctx: ToolContext, args: ModifyArgs) -> tuple[Reservation, RoomType]:
    """Same identity rule as cancelling: the caller's own line, or the code plus the name on it."""
    async with ctx.sessions() as db:
        if args.confirmation_code:
            res = (
                await db.execute(
                    select(Reservation).where(Reservation.confirmation_code == args.confirmation_code)
                )
            ).scalar_one_or_none()
            owned = res is not None and (
                _caller_owns(ctx, res)
                or bool(args.guest_name and name_matches(args.guest_name, res.guest_name))
            )
            if res is None or not owned:
                raise NotFound("I couldn't find a booking with that code and name.")
        else:
            phone = _caller_phone(ctx)
            if not phone:
                raise InvalidArguments(
                    "I need the booking's confirmation code, since I can't see the number you're calling from."
                )
            rows = list(
                (
                    await db.execute(
                        select(Reservation)
                        .where(
                            Reservation.phone.like(f"%{_phone_key(phone)}"),
                            Reservation.status == ReservationStatus.CONFIRMED,
                            Reservation.check_out > ctx.today(),
                        )
                        .order_by(Reservation.check_in)
                    )
                ).scalars()
            )
            if not rows:
                raise NotFound(
                    "I couldn't find an upcoming booking made from the number you're calling from. "
                    "What's the confirmation code?"
                )
            if len(rows) > 1:
                raise InvalidArguments(
                    "There's more than one booking for this number; which confirmation code should I change?",
                    data={"confirmation_codes": [r.confirmation_code for r in rows]},
                )
            res = rows[0]
        rt = await db.get(RoomType, res.room_type_id)
    if rt is None:
        raise ToolFailure("That booking's room type is missing.", retryable=False)
    if res.status != ReservationStatus.CONFIRMED:
        raise InvalidArguments(
            "That booking is cancelled, so it can't be changed; I can make a new booking instead."
        )
    if res.check_out <= ctx.today():
        raise InvalidArguments("That stay is already over, so it can't be changed.")
    return res, rt


async def _alternative_for_change(
    ctx: ToolContext, db: AsyncSession, res: Reservation, target: Stay
) -> dict[str, Any] | None:
    """What to offer instead: another room type for the same dates, else the same room type on the
    nearest dates of the same length (only when the caller was moving dates anyway)."""
    started = res.check_in < ctx.today()
    if started:
        return None
    quotes = await quote(
        db, target.check_in, target.check_out, target.guests, target.pets, exclude_reservation=res.id
    )
    others = [q for q in quotes if q.room_type.id != target.room_type.id]
    if others:
        q = others[0]
        return {
            "kind": "room_type",
            "check_in": target.check_in.isoformat(),
            "check_out": target.check_out.isoformat(),
            "room_type": q.room_type.code,
            "name": q.room_type.name,
            "total": str(q.total),
        }
    if (target.check_in, target.check_out) == (res.check_in, res.check_out):
        return None
    today = ctx.today()
    for shift in (1, -1, 2, -2, 3, -3, 4, 5, 6, 7):
        ci = target.check_in + timedelta(days=shift)
        co = ci + timedelta(days=target.nights)
        if ci < today or (ci, co) == (res.check_in, res.check_out):
            continue
        found = await quote(
            db, ci, co, target.guests, target.pets, target.room_type, exclude_reservation=res.id
        )
        if found:
            return {
                "kind": "dates",
                "check_in": ci.isoformat(),
                "check_out": co.isoformat(),
                "room_type": target.room_type.code,
                "name": target.room_type.name,
                "total": str(found[0].total),
            }
    return None


async def _target_stay(ctx: ToolContext, res: Reservation, current: Stay, args: ModifyArgs) -> Stay:
    """The booking as it would be after the change, checked against the same rules as a new booking."""
    today = ctx.today()
    async with ctx.sessions() as db:
        rt = current.room_type
        if args.room_type:
            types = await room_types(db)
            wanted = match_room_type(types, args.room_type)
            if wanted is None:
                raise InvalidArguments(
                    f"We have no room type called {args.room_type}; we have {', '.join(t.name for t in types)}."
                )
            rt = wanted
        target = Stay(
            check_in=args.check_in or current.check_in,
            check_out=args.check_out or current.check_out,
            adults=args.adults if args.adults is not None else current.adults,
            children=args.children if args.children is not None else current.children,
            pets=args.pets if args.pets is not None else current.pets,
            room_type=rt,
        )
        if res.check_in < today and target.check_in != res.check_in:
            raise InvalidArguments("Your stay has already begun, so the arrival date can't change.")
        if res.check_in < today and rt.id != res.room_type_id:
            raise InvalidArguments(
                "Your stay has already begun, so a room change is best arranged with the front desk."
            )
        problem = stay_problem(
            target.check_in,
            target.check_out,
            target.adults,
            target.children,
            ctx.limits(),
            kept_check_in=res.check_in,
        )
        if problem:
            raise InvalidArguments(_sentence(problem))
        if rt.capacity < target.guests or (target.pets and not rt.pets_allowed):
            alternative = await _alternative_for_change(ctx, db, res, target)
            why = (
                f"The {rt.name} sleeps at most {rt.capacity}, not {target.guests}."
                if rt.capacity < target.guests
                else f"Pets can't stay in the {rt.name}; they're welcome in rooms that allow pets."
            )
            raise InvalidArguments(why, data={"alternative": alternative})
    return target


async def rooms_for_change(ctx: ToolContext, res: Reservation, target: Stay, tried: set[int]) -> list[Room]:
    """Free rooms of the target type, the booking's own room first so an extension keeps it.

    Once a stay has begun only its own room qualifies: the nights already slept can't move.
    """
    async with ctx.sessions() as db:
        free = await _free_rooms(
            db, target.check_in, target.check_out, target.room_type.id, exclude_reservation=res.id
        )
    rooms = [r for r in free.get(target.room_type.id, []) if r.id not in tried]
    if res.check_in < ctx.today():
        rooms = [r for r in rooms if r.id == res.room_id]
    return sorted(rooms, key=lambda r: r.id != res.room_id)


async def _write_change(
    ctx: ToolContext,
    res: Reservation,
    current: Stay,
    target: Stay,
    room: Room,
    totals: tuple[Decimal, Decimal],
) -> int | None:
    """One transaction: compare-and-set the booking row, swap its nights, queue the text.

    The UPDATE is first and only matches the booking as we read it, so a concurrent change of the
    same booking turns this into a no-op (``_Stale``) instead of a lost update; a night taken by
    another booking fails the unique (room, night) insert and rolls everything back.
    """
    old_total, new_total = totals
    hotel = ctx.settings.hotel
    new_nights = _nights(target.check_in, target.check_out)
    now = datetime.now(UTC)
    async with ctx.sessions.begin() as db:
        updated = await db.execute(
            update(Reservation)
            .where(
                Reservation.id == res.id,
                Reservation.status == ReservationStatus.CONFIRMED,
                Reservation.check_in == current.check_in,
                Reservation.check_out == current.check_out,
                Reservation.adults == current.adults,
                Reservation.children == current.children,
                Reservation.pets == current.pets,
                Reservation.room_type_id == current.room_type.id,
                Reservation.room_id == res.room_id,
            )
            .values(
                check_in=target.check_in,
                check_out=target.check_out,
                adults=target.adults,
                children=target.children,
                pets=target.pets,
                room_type_id=target.room_type.id,
                room_id=room.id,
                total=new_total,
            )
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], updated).rowcount != 1:
            raise _Stale
        if room.id == res.room_id:
            kept = set(_nights(current.check_in, current.check_out)) & set(new_nights)
            await db.execute(
                delete(ReservationNight).where(
                    ReservationNight.reservation_id == res.id,
                    or_(ReservationNight.night < target.check_in, ReservationNight.night >= target.check_out),
                )
            )
        else:
            kept = set()
            await db.execute(delete(ReservationNight).where(ReservationNight.reservation_id == res.id))
        db.add_all(
            ReservationNight(reservation_id=res.id, room_id=room.id, night=n)
            for n in new_nights
            if n not in kept
        )
        await db.flush()
        link_url = ""
        if new_total != old_total:
            # a signed link carries the amount: the old one must not be paid any more
            voided = await db.execute(
                update(PaymentLink)
                .where(PaymentLink.reservation_id == res.id, PaymentLink.status == "active")
                .values(status="superseded")
                .execution_options(synchronize_session=False)
            )
            secret = hotel.payment_link_secret.get_secret_value()
            if cast(CursorResult[Any], voided).rowcount and secret:
                link = _new_payment_link(ctx, secret, res.id, new_total, res.currency, now)
                db.add(link)
                link_url = link.url
        to = res.phone or _caller_phone(ctx)
        if not to:
            return None
        kids = f", {target.children} child(ren)" if target.children else ""
        body = (
            f"{hotel.name}: booking {res.confirmation_code} changed. {target.room_type.name}, "
            f"{target.check_in:%a %d %b %Y} to {target.check_out:%a %d %b %Y}, {target.adults} adult(s){kids}"
            f"{', with a pet' if target.pets else ''}. Total {new_total} {res.currency} (was {old_total})."
        )
        if link_url:
            body += f" Pay securely: {link_url}"
        msg = Message(channel="sms", to=to, body=body, reservation_id=res.id, status=JobStatus.PENDING)
        db.add(msg)
        await db.flush()
        return msg.id


def _change_parts(before: Stay, after: Stay, totals: tuple[Decimal, Decimal], currency: str) -> list[str]:
    parts: list[str] = []
    if after.room_type.id != before.room_type.id:
        parts.append(f"room from the {before.room_type.name} to the {after.room_type.name}")
    if after.check_in != before.check_in:
        parts.append(f"check-in from {short_date(before.check_in)} to {short_date(after.check_in)}")
    if after.check_out != before.check_out:
        parts.append(f"check-out from {short_date(before.check_out)} to {short_date(after.check_out)}")
    if (after.adults, after.children) != (before.adults, before.children):
        parts.append(
            f"guests from {_guests_words(before.adults, before.children)} to "
            f"{_guests_words(after.adults, after.children)}"
        )
    if after.pets != before.pets:
        parts.append("now with a pet" if after.pets else "now without a pet")
    old, new = totals
    diff = new - old
    if diff:
        more = "more" if diff > 0 else "less"
        parts.append(
            f"total from {spoken_money(old, currency)} to {spoken_money(new, currency)}, "
            f"{spoken_money(abs(diff), currency)} {more}"
        )
    else:
        parts.append(f"total unchanged at {spoken_money(new, currency)}")
    return parts


def _change_result(
    res: Reservation,
    before: Stay,
    after: Stay,
    totals: tuple[Decimal, Decimal],
    currency: str,
    *,
    preview: bool,
    changed: bool,
    same_room: bool,
    message_id: int | None = None,
) -> ToolResult:
    old, new = totals
    fields = ("check_in", "check_out", "adults", "children", "pets", "room_type")
    b, a = before.as_data(old), after.as_data(new)
    data = {
        "confirmation_code": res.confirmation_code,
        "preview": preview,
        "changed": changed,
        "before": b,
        "after": a,
        "changes": [f for f in fields if a[f] != b[f]],
        "difference": str(new - old),
        "currency": currency,
        "same_room": same_room,
        "message_id": message_id,
    }
    code = spoken_code(res.confirmation_code)
    if not data["changes"]:
        summary = f"Booking {code} already has those details, so nothing needed changing."
    elif preview:
        summary = f"Not changed yet. Booking {code} would change: {'; '.join(_change_parts(before, after, totals, currency))}."
    else:
        summary = f"Changed booking {code}: {'; '.join(_change_parts(before, after, totals, currency))}."
        if same_room and after.room_type.id == before.room_type.id:
            summary += " Same room."
    return ToolResult("modify_reservation", data, summary)


async def modify_reservation(ctx: ToolContext, args: ModifyArgs) -> ToolResult:
    """Change dates, guests, pets or room type of a booking in one transaction, keeping its code.

    Arguments are absolute ("check_out 2026-12-06", not "one more night"), so a retried request
    finds the booking already as asked and changes nothing more. A lost race for a night leaves the
    booking exactly as it was.
    """
    currency = ctx.settings.hotel.currency
    for _ in range(4):
        res, rt = await _reservation_for_change(ctx, args)
        if res.rooms > 1:
            raise NotAvailable(
                f"Booking {spoken_code(res.confirmation_code)} holds {res.rooms} rooms; changes to a booking of "
                "several rooms are made by our reservations team."
            )
        current = Stay.of(res, rt)
        target = await _target_stay(ctx, res, current, args)
        old_total = Decimal(res.total)
        if target == current:
            return _change_result(
                res, current, target, (old_total, old_total), currency,
                preview=args.preview, changed=False, same_room=True,
            )  # fmt: skip
        async with ctx.sessions() as db:
            new_total = await _stay_total(db, target.room_type, target.check_in, target.check_out)
        totals = (old_total, new_total)
        tried: set[int] = set()
        while True:
            rooms = await rooms_for_change(ctx, res, target, tried)
            if not rooms:
                async with ctx.sessions() as db:
                    alternative = await _alternative_for_change(ctx, db, res, target)
                when = f"from {short_date(target.check_in)} to {short_date(target.check_out)}"
                status = "is no longer available" if tried else "isn't available"
                raise NotAvailable(
                    f"Sorry, the {target.room_type.name} {status} {when}; your booking is unchanged.",
                    data={"alternative": alternative},
                )
            room = rooms[0]
            if args.preview:
                return _change_result(
                    res, current, target, totals, currency,
                    preview=True, changed=False, same_room=room.id == res.room_id,
                )  # fmt: skip
            try:
                message_id = await _write_change(ctx, res, current, target, room, totals)
            except IntegrityError:
                tried.add(room.id)  # another booking took one of these nights in this room
                continue
            except _Stale:
                break  # re-read the booking and plan again
            if ctx.store is not None and ctx.call_id is not None:
                await ctx.store.update_call(ctx.call_id, reservation_id=res.id)
            return _change_result(
                res, current, target, totals, currency,
                preview=False, changed=True, same_room=room.id == res.room_id, message_id=message_id,
            )  # fmt: skip
    raise ToolFailure("That booking kept changing while I tried to update it; please try again.")


async def create_lead(ctx: ToolContext, args: LeadArgs) -> ToolResult:
    async with ctx.sessions.begin() as db:
        lead = Lead(
            name=args.name,
            phone=args.phone or _caller_phone(ctx),
            email=args.email,
            interest=args.interest,
            check_in=args.check_in,
            check_out=args.check_out,
            adults=args.adults,
            call_session_id=ctx.session_id,
        )
        db.add(lead)
        await db.flush()
        lead_id = lead.id
    if ctx.store is not None and ctx.call_id is not None:
        await ctx.store.update_call(ctx.call_id, lead_id=lead_id)
    return ToolResult("create_lead", {"lead_id": lead_id}, "I've noted your request for our team.")


def _new_payment_link(
    ctx: ToolContext, secret: str, reservation_id: int, amount: Decimal, currency: str, now: datetime
) -> PaymentLink:
    hotel = ctx.settings.hotel
    expires = now + timedelta(minutes=hotel.payment_link_ttl_minutes)
    token = sign_payment_token(
        secret, reservation_id=reservation_id, amount=amount, currency=currency, expires_at=expires
    )
    sep = "&" if "?" in hotel.payment_page_url else "?"
    return PaymentLink(
        reservation_id=reservation_id,
        amount=amount,
        currency=currency,
        token=token,
        url=f"{hotel.payment_page_url}{sep}token={token}",
        expires_at=expires,
    )


async def generate_payment_link(ctx: ToolContext, args: CodeArgs) -> ToolResult:
    hotel = ctx.settings.hotel
    secret = hotel.payment_link_secret.get_secret_value()
    if not secret:
        raise NotConfigured("Payment links aren't set up at this hotel yet; the front desk can take payment.")
    now = datetime.now(UTC)
    async with ctx.sessions.begin() as db:
        hit = await _reservation_by_code(db, args.confirmation_code)
        if hit is None or hit[0].status != ReservationStatus.CONFIRMED:
            raise NotFound("I couldn't find a confirmed booking with that code.")
        res = hit[0]
        links = (
            await db.execute(
                select(PaymentLink).where(
                    PaymentLink.reservation_id == res.id, PaymentLink.status == "active"
                )
            )
        ).scalars()
        link = next((pl for pl in links if pl.expires_at > now + timedelta(minutes=5)), None)
        if link is None:
            link = _new_payment_link(ctx, secret, res.id, Decimal(res.total), res.currency, now)
            db.add(link)
    data = {
        "url": link.url,
        "amount": str(Decimal(link.amount)),
        "currency": link.currency,
        "expires_at": link.expires_at.isoformat(),
        "confirmation_code": args.confirmation_code,
    }
    return ToolResult(
        "generate_payment_link",
        data,
        "I've prepared a secure payment link; card details are entered only on that page.",
    )


async def send_sms_confirmation(ctx: ToolContext, args: SmsArgs) -> ToolResult:
    currency = ctx.settings.hotel.currency
    now = datetime.now(UTC)
    async with ctx.sessions.begin() as db:
        hit = await _reservation_by_code(db, args.confirmation_code)
        if hit is None:
            raise NotFound("I couldn't find a booking with that code.")
        res, type_name = hit
        to = args.phone or res.phone or _caller_phone(ctx)
        if not to:
            raise InvalidArguments("I need a phone number to text the confirmation to.")
        link = (
            await db.execute(
                select(PaymentLink.url, PaymentLink.expires_at).where(
                    PaymentLink.reservation_id == res.id, PaymentLink.status == "active"
                )
            )
        ).first()
        body = (
            f"{ctx.settings.hotel.name}: booking {res.confirmation_code} {res.status}. "
            f"{f'{res.rooms} rooms, ' if res.rooms > 1 else ''}{type_name}, "
            f"{res.check_in:%a %d %b %Y} to {res.check_out:%a %d %b %Y}, {res.adults} adult(s)"
            f"{f', {res.children} child(ren)' if res.children else ''}. Total {Decimal(res.total)} {currency}."
        )
        if link and link[1] > now:
            body += f" Pay securely: {link[0]}"
        msg = Message(channel="sms", to=to, body=body, reservation_id=res.id, status=JobStatus.PENDING)
        db.add(msg)
        await db.flush()
        msg_id = msg.id
    return ToolResult(
        "send_sms_confirmation", {"message_id": msg_id, "to": to}, "I've sent you a text with the details."
    )


async def schedule_callback(ctx: ToolContext, args: CallbackArgs) -> ToolResult:
    due = args.when.astimezone(UTC)
    async with ctx.sessions.begin() as db:
        cb = Callback(phone=args.phone, due_at=due, reason=args.reason, call_session_id=ctx.session_id)
        db.add(cb)
        await db.flush()
        cb_id = cb.id
    local = args.when.astimezone(ctx.tz)
    return ToolResult(
        "schedule_callback",
        {"callback_id": cb_id, "due_at": due.isoformat(), "phone": args.phone},
        f"We'll call you back on {short_date(local.date())} at {local:%H:%M}.",
    )


async def transfer_to_human(ctx: ToolContext, args: TransferArgs) -> ToolResult:
    departments = ctx.settings.hotel.departments
    ext = departments.get(args.department) or ctx.settings.hotel.front_desk_extension
    return ToolResult(
        "transfer_to_human",
        {"department": args.department, "extension": ext},
        f"Connecting you to {args.department} now.",
        action=Action("transfer", {"department": args.department, "extension": ext}),
    )


async def play_hold_music(ctx: ToolContext, args: HoldArgs) -> ToolResult:
    return ToolResult(
        "play_hold_music",
        {"seconds": args.seconds},
        "Please hold for a moment.",
        action=Action("hold", {"seconds": args.seconds}),
    )


async def get_caller_history(ctx: ToolContext, args: PhoneArgs) -> ToolResult:
    key = _phone_key(args.phone)
    today = ctx.today()
    async with ctx.sessions() as db:
        reservations = list(
            (
                await db.execute(
                    select(Reservation)
                    .where(Reservation.phone.like(f"%{key}"))
                    .order_by(Reservation.created_at.desc())
                )
            ).scalars()
        )
        lead_name = await db.scalar(
            select(Lead.name)
            .where(Lead.phone.like(f"%{key}"), Lead.name != "")
            .order_by(Lead.created_at.desc())
        )
        q = select(VoiceCall).where(VoiceCall.caller_id.like(f"%{key}"))
        if ctx.call_id is not None:
            q = q.where(VoiceCall.id != ctx.call_id)
        calls = list((await db.execute(q.order_by(VoiceCall.started_at.desc()))).scalars())
    name = reservations[0].guest_name if reservations else (lead_name or "")
    if not name:
        name = next((c.caller_name for c in calls if c.caller_name and not c.caller_name.isdigit()), "")
    upcoming = [
        {
            "confirmation_code": r.confirmation_code,
            "check_in": r.check_in.isoformat(),
            "check_out": r.check_out.isoformat(),
        }
        for r in reservations
        if r.status == ReservationStatus.CONFIRMED and r.check_out >= today
    ]
    data = {
        "known": bool(reservations or calls or lead_name),
        "name": name,
        "first_name": name.split()[0] if name else "",
        "previous_calls": len(calls),
        "last_call_at": calls[0].started_at.isoformat() if calls else None,
        "reservations": len(reservations),
        "upcoming": upcoming,
    }
    summary = f"Returning caller {name}." if name else ("Known number." if data["known"] else "New caller.")
    return ToolResult("get_caller_history", data, summary)


async def hotel_info(ctx: ToolContext, args: HotelInfoArgs) -> ToolResult:
    topic = ctx.facts.topic(args.topic)
    if topic is None:
        known = ", ".join(t.title for t in ctx.facts.topics.values())
        raise NotFound(f"I don't have information about that. I can tell you about {known}.")
    return ToolResult("hotel_info", {"topic": topic.name, "answer": topic.answer}, topic.answer)


async def end_call(ctx: ToolContext, args: EndCallArgs) -> ToolResult:
    return ToolResult(
        "end_call",
        {"reason": args.reason},
        "Goodbye.",
        action=Action("hangup", {"reason": args.reason or "done"}),
    )


__all__ = [
    "cancel_reservation",
    "check_availability",
    "create_lead",
    "create_reservation",
    "end_call",
    "find_reservation",
    "generate_payment_link",
    "get_caller_history",
    "hotel_info",
    "match_room_type",
    "modify_reservation",
    "name_matches",
    "play_hold_music",
    "quote",
    "room_types",
    "schedule_callback",
    "send_sms_confirmation",
    "short_date",
    "spoken_date",
    "spoken_money",
    "transfer_to_human",
]
