"""Argument models for every tool: the JSON schema a model sees and the checks run before a tool runs.

Static shape (types, required fields, unknown keys) comes from pydantic; the hotel's own rules
(today in its time zone, guest and night limits, known departments) arrive through the validation
context, so the same model serves every hotel and a fixed "today" in tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ari_app.privacy import mask_card_numbers
from ari_app.tools.errors import InvalidArguments

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
_CODE = re.compile(r"^[A-Z0-9]{4,16}$")


@dataclass(frozen=True)
class Limits:
    """The hotel's rules for validation, taken from settings at the moment of the call."""

    today: date
    tz: ZoneInfo
    now: datetime
    max_guests: int = 8
    max_nights: int = 30
    horizon_days: int = 730
    departments: dict[str, str] = field(default_factory=dict)


def _limits(info: ValidationInfo) -> Limits | None:
    ctx = info.context
    if isinstance(ctx, dict):
        value = ctx.get("limits")
        return value if isinstance(value, Limits) else None
    return None


def spoken_date(d: date) -> str:
    day = d.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{d:%A}, {d:%B} {day}{suffix}, {d.year}" if d.year else f"{d:%A}, {d:%B} {day}{suffix}"


def stay_problem(
    check_in: date,
    check_out: date,
    adults: int,
    children: int,
    limits: Limits | None,
    *,
    kept_check_in: date | None = None,
) -> str | None:
    """The first rule a stay breaks, as a clause, or None; shared by booking and changing a booking.

    ``kept_check_in`` is the arrival of a stay that has already begun: keeping it is not "booking in
    the past", so a guest in the house can still extend.
    """
    if check_out <= check_in:
        return (
            f"the check-out date ({spoken_date(check_out)}) has to be after the check-in date "
            f"({spoken_date(check_in)})"
        )
    if limits is None:
        return None
    if check_in < limits.today and check_in != kept_check_in:
        return f"the check-in date, {spoken_date(check_in)}, is in the past"
    if check_out <= limits.today:
        return f"the check-out date, {spoken_date(check_out)}, has to be after today"
    if check_in > limits.today + timedelta(days=limits.horizon_days):
        return f"bookings open at most {limits.horizon_days} days ahead"
    nights = (check_out - check_in).days
    if nights > limits.max_nights:
        return f"one reservation can be at most {limits.max_nights} nights, not {nights}"
    guests = adults + children
    if guests > limits.max_guests:
        return (
            f"one reservation can be for at most {limits.max_guests} guests, not {guests}; "
            "our reservations team can arrange group stays"
        )
    return None


def normalize_phone(raw: str) -> str:
    """Digits with an optional leading ``+``; raise ValueError if it can't be a phone number."""
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        raise ValueError("a phone number has 7 to 15 digits")
    return ("+" if text.startswith("+") else "") + digits


def normalize_code(raw: str) -> str:
    code = re.sub(r"[\s\-]", "", raw).upper()
    if not _CODE.match(code):
        raise ValueError("a confirmation code is 4 to 16 letters and digits")
    return code


class ArgsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, str_max_length=1000)


class StayArgs(ArgsModel):
    check_in: date = Field(description="Arrival date, YYYY-MM-DD, in the hotel's time zone.")
    check_out: date = Field(description="Departure date, YYYY-MM-DD; after check_in.")
    adults: int = Field(ge=1, le=1000, description="Adults staying (at least 1).")
    children: int = Field(default=0, ge=0, le=1000, description="Children staying.")
    pets: bool = Field(default=False, description="Whether the guests bring a pet.")

    @model_validator(mode="after")
    def _stay_rules(self, info: ValidationInfo) -> StayArgs:
        problem = stay_problem(self.check_in, self.check_out, self.adults, self.children, _limits(info))
        if problem:
            raise ValueError(problem)
        return self

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


class RoomsArgs(StayArgs):
    """A stay in one or more rooms of one type; every room needs an adult of its own."""

    rooms: int = Field(
        default=1, ge=1, le=10, description="How many rooms of the same type, in one reservation (default 1)."
    )

    @model_validator(mode="after")
    def _an_adult_per_room(self) -> RoomsArgs:
        if self.rooms > self.adults:
            raise ValueError(f"each room needs an adult: {self.rooms} rooms need at least {self.rooms} adults")
        return self


class AvailabilityArgs(RoomsArgs):
    room_type: str | None = Field(default=None, max_length=64, description="Optional room type code or name.")


class ReservationArgs(RoomsArgs):
    room_type: str = Field(
        min_length=1, max_length=64, description="Room type code or name, from check_availability."
    )
    guest_name: str = Field(min_length=2, max_length=100, description="Full name of the guest, as confirmed.")
    phone: str | None = Field(default=None, description="Guest phone; the caller's number when omitted.")
    email: str | None = Field(default=None, max_length=255, description="Guest e-mail, optional.")
    idempotency_key: str | None = Field(
        default=None,
        max_length=128,
        description="Repeat the same key when retrying so nothing is booked twice.",
    )

    @field_validator("guest_name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not _NAME.match(value):
            raise ValueError("a guest name is letters only, like Jane Doe")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not _EMAIL.match(value):
            raise ValueError("that e-mail address doesn't look complete")
        return value.lower() if value else None


class FindReservationArgs(ArgsModel):
    confirmation_code: str | None = Field(default=None, description="The booking's confirmation code.")
    phone: str | None = Field(default=None, description="The phone number the booking was made with.")

    @field_validator("confirmation_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return normalize_code(value) if value else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    @model_validator(mode="after")
    def _one_key(self) -> FindReservationArgs:
        if not self.confirmation_code and not self.phone:
            raise ValueError("give a confirmation code or a phone number")
        return self


class CancelArgs(ArgsModel):
    confirmation_code: str = Field(description="The booking's confirmation code.")
    phone: str | None = Field(default=None, description="Phone on the booking (proves it's the guest's).")
    guest_name: str | None = Field(
        default=None, max_length=100, description="Guest's name (or surname) on the booking."
    )
    accept_fee: bool = Field(
        default=False, description="True only after the caller agreed to a late-cancellation fee."
    )

    @field_validator("confirmation_code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalize_code(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None


class ModifyArgs(ArgsModel):
    """Identity as for cancelling, then only what changes; omitted fields keep the booking's value."""

    confirmation_code: str | None = Field(
        default=None,
        description="The booking's confirmation code. Omit it to change the one upcoming booking made from "
        "the number the caller is calling from.",
    )
    guest_name: str | None = Field(
        default=None,
        max_length=100,
        description="Guest's name (or surname) on the booking; needed with the code when the caller is not "
        "calling from the booking's phone.",
    )
    check_in: date | None = Field(default=None, description="New arrival date, YYYY-MM-DD.")
    check_out: date | None = Field(default=None, description="New departure date, YYYY-MM-DD.")
    adults: int | None = Field(default=None, ge=1, le=1000, description="New number of adults.")
    children: int | None = Field(default=None, ge=0, le=1000, description="New number of children.")
    pets: bool | None = Field(default=None, description="Whether the guests bring a pet.")
    room_type: str | None = Field(
        default=None, min_length=1, max_length=64, description="New room type code or name."
    )
    preview: bool = Field(
        default=False,
        description="True to price the change without making it (new total and the difference). Read that "
        "back, and call again without preview only after the caller agrees.",
    )

    @field_validator("confirmation_code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return normalize_code(value) if value else None

    @model_validator(mode="after")
    def _something_changes(self) -> ModifyArgs:
        fields = (self.check_in, self.check_out, self.adults, self.children, self.pets, self.room_type)
        if all(v is None for v in fields):
            raise ValueError("say what to change: check_in, check_out, adults, children, pets or room_type")
        if self.check_in is not None and self.check_out is not None and self.check_out <= self.check_in:
            raise ValueError(
                f"the check-out date ({spoken_date(self.check_out)}) has to be after the check-in date "
                f"({spoken_date(self.check_in)})"
            )
        return self


class LeadArgs(ArgsModel):
    name: str = Field(default="", max_length=255)
    phone: str = Field(default="", description="Caller's number when empty.")
    email: str = Field(default="", max_length=255)
    interest: str = Field(default="", max_length=1000, description="What the caller wants, in a sentence.")
    check_in: date | None = None
    check_out: date | None = None
    adults: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(value) if value else ""

    @field_validator("interest")
    @classmethod
    def _no_card(cls, value: str) -> str:
        return mask_card_numbers(value)  # free text from the caller's words: stored in the lead


class CodeArgs(ArgsModel):
    confirmation_code: str = Field(description="The booking's confirmation code.")

    @field_validator("confirmation_code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalize_code(value)


class SmsArgs(CodeArgs):
    phone: str | None = Field(default=None, description="Where to text; the booking's phone when omitted.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None


class CallbackArgs(ArgsModel):
    phone: str = Field(description="Number to call back.")
    when: datetime = Field(
        description="When to call, ISO 8601; without an offset it is the hotel's local time."
    )
    reason: str = Field(default="", max_length=500)

    @field_validator("reason")
    @classmethod
    def _no_card(cls, value: str) -> str:
        return mask_card_numbers(value)  # free text from the caller's words: stored in the callback

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(value)

    @model_validator(mode="after")
    def _future(self, info: ValidationInfo) -> CallbackArgs:
        limits = _limits(info)
        if limits is None:
            return self
        when = self.when if self.when.tzinfo else self.when.replace(tzinfo=limits.tz)
        if when < limits.now - timedelta(minutes=1):
            raise ValueError("the callback time is in the past")
        if when > limits.now + timedelta(days=30):
            raise ValueError("callbacks can be scheduled up to 30 days ahead")
        self.when = when
        return self


class TransferArgs(ArgsModel):
    department: str = Field(default="front desk", max_length=64, description="Department to transfer to.")

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> TransferArgs:
        limits = _limits(info)
        if limits is None or not limits.departments:
            return self
        wanted = self.department.strip().lower()
        for name in limits.departments:
            if name.lower() == wanted:
                self.department = name
                return self
        raise ValueError(f"unknown department; choose one of: {', '.join(limits.departments)}")


class HoldArgs(ArgsModel):
    seconds: int = Field(default=30, ge=1, le=300, description="How long to play hold music.")


class PhoneArgs(ArgsModel):
    phone: str = Field(description="The caller's phone number.")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalize_phone(value)


class HotelInfoArgs(ArgsModel):
    topic: str = Field(
        min_length=1,
        max_length=200,
        description="e.g. check-in, parking, pets, breakfast, wifi, directions, cancellation.",
    )


class EndCallArgs(ArgsModel):
    reason: str = Field(default="", max_length=200)


def explain_validation(exc: ValidationError) -> str:
    """Pydantic's errors as one sentence a caller can hear or a model can act on."""
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            msg = "is not an argument of this tool"
        elif kind == "missing":
            msg = "is required"
        elif kind.startswith(("date_", "datetime_")):
            msg = (
                "should be a date like 2026-12-03"
                if kind.startswith("date_")
                else "should be like 2026-12-03T10:00"
            )
        if loc:
            parts.append(f"{loc}: {msg}")
        else:
            parts.append(msg[:1].upper() + msg[1:])
    return "; ".join(parts[:3]) + "."


def validate_args(model: type[ArgsModel], arguments: Any, limits: Limits | None) -> ArgsModel:
    if not isinstance(arguments, dict):
        raise InvalidArguments("Tool arguments must be a JSON object.")
    try:
        return model.model_validate(arguments, context={"limits": limits} if limits else None)
    except ValidationError as exc:
        raise InvalidArguments(explain_validation(exc)) from None


def json_schema(model: type[ArgsModel]) -> dict[str, Any]:
    """The model's JSON schema without pydantic's titles, as function parameters for a model."""
    schema = model.model_json_schema()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    out: dict[str, Any] = strip(schema)
    out.setdefault("properties", {})
    out["additionalProperties"] = False
    return out
