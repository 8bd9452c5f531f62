"""Run a tool by name with untrusted dict arguments: validate, run, time, record.

Both brains (and the IVR/AGI) come through here, so every tool run is validated the same way and
lands in ``tool_runs`` with masked arguments and its latency whoever asked for it. A model's or a
caller's bad arguments never reach a tool: they come back as a ToolError whose message the model
can act on or the brain can speak.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ari_app.tools import hotel
from ari_app.tools.errors import ToolError, ToolFailure, UnknownTool
from ari_app.tools.schemas import (
    ArgsModel,
    AvailabilityArgs,
    CallbackArgs,
    CancelArgs,
    CodeArgs,
    EndCallArgs,
    FindReservationArgs,
    HoldArgs,
    HotelInfoArgs,
    LeadArgs,
    Limits,
    ModifyArgs,
    PhoneArgs,
    ReservationArgs,
    SmsArgs,
    TransferArgs,
    json_schema,
    validate_args,
)
from ari_app.tools.types import ToolContext, ToolResult

log = logging.getLogger(__name__)

ToolFunc = Callable[[ToolContext, Any], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[ArgsModel]
    func: ToolFunc

    def parameters(self) -> dict[str, Any]:
        return json_schema(self.args_model)

    def openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters()},
        }


def limits_for(ctx: ToolContext) -> Limits:
    return ctx.limits()


HOTEL_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "check_availability",
        "Room types free for EVERY night from check_in to check_out for the party, with nightly rates and total. "
        "If nothing is free, 'alternative' holds the nearest dates that work.",
        AvailabilityArgs,
        hotel.check_availability,
    ),
    ToolSpec(
        "create_reservation",
        "Book a room. Only call after reading dates, guests, room type, name and total back to the caller and "
        "hearing yes. Retrying with the same arguments never books twice.",
        ReservationArgs,
        hotel.create_reservation,
    ),
    ToolSpec(
        "find_reservation",
        "Look a booking up by confirmation code or phone number.",
        FindReservationArgs,
        hotel.find_reservation,
    ),
    ToolSpec(
        "cancel_reservation",
        "Cancel a booking per the hotel's policy. Needs the code plus the phone or guest name. If a late fee "
        "applies the first call returns needs_fee_agreement; call again with accept_fee=true only after the caller agrees.",
        CancelArgs,
        hotel.cancel_reservation,
    ),
    ToolSpec(
        "modify_reservation",
        "Change an existing booking's dates, guests, pets or room type; the confirmation code stays. Give the "
        "new values (absolute dates, not 'one more night'); omitted ones stay as booked. Without a code it "
        "changes the caller's own upcoming booking (by caller id); with a code from another phone, also give "
        "the guest name. Call with preview=true first, read the new total and the difference back, and call "
        "again without preview only after the caller says yes. If unavailable, 'alternative' may hold an offer.",
        ModifyArgs,
        hotel.modify_reservation,
    ),
    ToolSpec("create_lead", "Note an enquiry the hotel team should follow up.", LeadArgs, hotel.create_lead),
    ToolSpec(
        "generate_payment_link",
        "Create a secure payment link for a booking. Never ask for card numbers by phone.",
        CodeArgs,
        hotel.generate_payment_link,
    ),
    ToolSpec(
        "send_sms_confirmation",
        "Text the booking details (and any payment link) to the guest.",
        SmsArgs,
        hotel.send_sms_confirmation,
    ),
    ToolSpec(
        "schedule_callback", "Schedule a call back to the caller.", CallbackArgs, hotel.schedule_callback
    ),
    ToolSpec(
        "transfer_to_human",
        "Transfer the caller to a person in a department.",
        TransferArgs,
        hotel.transfer_to_human,
    ),
    ToolSpec(
        "play_hold_music",
        "Put the caller on hold with music for some seconds.",
        HoldArgs,
        hotel.play_hold_music,
    ),
    ToolSpec(
        "get_caller_history",
        "What we know about a phone number: name, past calls, bookings.",
        PhoneArgs,
        hotel.get_caller_history,
    ),
    ToolSpec(
        "hotel_info", "Answer a question about the hotel from its facts.", HotelInfoArgs, hotel.hotel_info
    ),
    ToolSpec("end_call", "Hang up after saying goodbye.", EndCallArgs, hotel.end_call),
)


class ToolRegistry:
    def __init__(self, specs: Iterable[ToolSpec] = HOTEL_TOOLS) -> None:
        self._specs = {s.name: s for s in specs}

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def spec(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTool(
                f"There is no tool called {name!r}; use one of: {', '.join(self._specs)}."
            ) from None

    def openai_tools(self) -> list[dict[str, Any]]:
        return [s.openai_tool() for s in self._specs.values()]

    def validate(self, ctx: ToolContext, name: str, arguments: Any) -> ArgsModel:
        return validate_args(self.spec(name).args_model, arguments, limits_for(ctx))

    async def run(self, ctx: ToolContext, name: str, arguments: Any) -> ToolResult:
        """Validate then run ``name``; raise ToolError (recorded, with a speakable message) on any failure."""
        started = time.perf_counter()
        raw = arguments if isinstance(arguments, dict) else {"_raw": str(arguments)[:200]}
        try:
            spec = self.spec(name)
            args = validate_args(spec.args_model, arguments, limits_for(ctx))
            try:
                result = await spec.func(ctx, args)
            except SQLAlchemyError as exc:
                log.exception("tool %s failed on the database", name)
                raise ToolFailure("Sorry, our booking system is having trouble right now.") from exc
        except ToolError as exc:
            await self._record(
                ctx, name, raw, ok=False, summary="", error=f"{exc.code}: {exc.message}", started=started
            )
            raise
        latency = (time.perf_counter() - started) * 1000
        await self._record(ctx, name, raw, ok=True, summary=result.summary, error="", started=started)
        return ToolResult(result.name, result.data, result.summary, result.ok, result.action, latency)

    async def _record(
        self,
        ctx: ToolContext,
        name: str,
        args: dict[str, Any],
        *,
        ok: bool,
        summary: str,
        error: str,
        started: float,
    ) -> None:
        if ctx.store is None:
            return
        latency = (time.perf_counter() - started) * 1000
        try:
            await ctx.store.add_tool_run(
                ctx.call_id,
                name[:64],
                _jsonable(args),
                ok=ok,
                result_summary=summary,
                error=error,
                latency_ms=latency,
            )
        except SQLAlchemyError:
            # Losing the audit row must not lose the caller's booking; say so in the log.
            log.exception("could not record tool run %s for call %s", name, ctx.call_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)
