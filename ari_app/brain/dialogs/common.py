"""What every dialog flow of the embedded brain shares: stages, the reply collector, and the
steps any flow may fall back on (asking, not understanding, handing to a person)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ari_app.brain.context import CallContext, DialogState, ModifyDraft
from ari_app.brain.events import Action, BrainEvent, Say, ToolCalled
from ari_app.brain.nlu import (
    DateSlots,
    Guests,
    Tok,
)
from ari_app.brain.sentences import split_sentences
from ari_app.tools.errors import ToolError
from ari_app.tools.types import ToolResult
from models.hotel import RoomType

log = logging.getLogger(__name__)

MAX_UTTERANCE_CHARS = 600
BOOKING_STAGES = frozenset(
    {
        "ask_dates",
        "ask_checkout",
        "ask_guests",
        "offer",
        "ask_name",
        "ask_phone",
        "ask_phone_number",
        "confirm",
    }
)
CANCEL_STAGES = frozenset({"cancel_code", "cancel_pick", "cancel_verify", "cancel_confirm", "cancel_fee"})
CALLBACK_STAGES = frozenset({"callback_when", "callback_phone", "callback_number"})
MODIFY_STAGES = frozenset(
    {"modify_code", "modify_verify", "modify_what", "modify_confirm", "modify_alt", "modify_desk"}
)
YES_NO_STAGES = frozenset(
    {
        "offer",
        "ask_phone",
        "confirm",
        "cancel_confirm",
        "cancel_fee",
        "callback_phone",
        "anything_else",
        "modify_confirm",
        "modify_alt",
        "modify_desk",
        "end_confirm",
        "pay_link",
    }
)


def _guests_phrase(adults: int, children: int) -> str:
    text = f"{adults} adult{'s' if adults != 1 else ''}"
    if children:
        text += f" and {children} {'child' if children == 1 else 'children'}"
    return text


def _has_caller_id(ctx: CallContext) -> bool:
    return sum(c.isdigit() for c in ctx.caller_number) >= 7


def _same_line(a: str, b: str) -> bool:
    """Same last ten digits: a booking's phone written with or without the country code still matches."""
    da = "".join(c for c in a if c.isdigit())[-10:]
    db = "".join(c for c in b if c.isdigit())[-10:]
    return len(da) >= 7 and da == db


def _last4(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return " ".join(digits[-4:])


class _Reply:
    """Collects what one turn says, so the agent's turn can be stored as one text afterwards."""

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def say(self, text: str) -> list[BrainEvent]:
        parts = split_sentences(text)
        self.spoken.extend(parts)
        return [Say(p) for p in parts]


def _same_month_after(anchor: date, day: int, today: date) -> date:
    """A bare "the fourth" while correcting: that day in the month of the stay being discussed."""
    try:
        d = anchor.replace(day=day)
    except ValueError:
        return anchor
    return d if d >= today else _day_after(today, day)


def _day_after(anchor: date, day: int) -> date:
    """The first date after ``anchor`` that falls on the given day of the month."""
    d = anchor + timedelta(days=1)
    for _ in range(62):
        if d.day == day:
            return d
        d += timedelta(days=1)
    return anchor


def _tool_event(name: str, args: dict[str, Any], res: ToolResult | None, err: ToolError | None) -> ToolCalled:
    if res is not None:
        return ToolCalled(name, args, res.data, True)
    return ToolCalled(name, args, err.to_payload() if err else {}, False, err.message if err else "")


class DialogBase:
    """Steps shared by every flow; the flows are mixins over this and the brain combines them."""

    if TYPE_CHECKING:
        # Steps of other dialogs that this one hands over to; the brain class combines them all.
        def _booking(
            self,
            ctx: CallContext,
            r: _Reply,
            text: str,
            toks: list[Tok],
            dates: DateSlots,
            guests: Guests,
            yn: bool | None,
            *,
            fresh: bool = False,
        ) -> AsyncIterator[BrainEvent]: ...

        def _advance(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]: ...

        def _modify_changes(
            self, ctx: CallContext, text: str, toks: list[Tok], *, correcting: bool = False
        ) -> tuple[bool, str | None]: ...

        def _modify_preview(
            self, ctx: CallContext, r: _Reply, before: ModifyDraft
        ) -> AsyncIterator[BrainEvent]: ...

    # ------------------------------------------------------------------ finding an existing booking

    async def _find_by_code(
        self,
        ctx: CallContext,
        r: _Reply,
        code: str,
        *,
        retry_stage: str,
        found_step: Callable[[CallContext, _Reply, dict[str, Any]], AsyncIterator[BrainEvent]],
    ) -> AsyncIterator[BrainEvent]:
        """The booking a confirmation code names, handed to the flow's own next step (change and
        cancel each check who is calling in their own way); a code that finds nothing is asked again."""
        args = {"confirmation_code": code}
        res, err = await ctx.run_tool("find_reservation", args)
        yield _tool_event("find_reservation", args, res, err)
        if res is None:
            ctx.state.stage = retry_stage
            async for ev in self._failed(ctx, r, "I couldn't find a booking with that code."):
                yield ev
            return
        async for ev in found_step(ctx, r, res.data["reservations"][0]):
            yield ev

    async def _bookings_for_phone(
        self, ctx: CallContext, phone: str, *, ongoing_only: bool = False
    ) -> tuple[ToolCalled, list[dict[str, Any]]]:
        """The confirmed bookings made with this phone number (``ongoing_only``: only stays that
        still have a night ahead, the ones a change can touch), with the tool event to report."""
        args = {"phone": phone}
        res, err = await ctx.run_tool("find_reservation", args)
        today = ctx.today()
        found = [
            x
            for x in (res.data["reservations"] if res is not None else [])
            if x["status"] == "confirmed" and (not ongoing_only or date.fromisoformat(x["check_out"]) > today)
        ]
        return _tool_event("find_reservation", args, res, err), found

    def _ask(self, st: DialogState, question: str) -> str:
        st.last_prompt = question
        return question

    # ------------------------------------------------------------------ failures and hand-offs

    async def _failed(
        self, ctx: CallContext, r: _Reply, why: str = "Sorry, I didn't catch that."
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures += 1
        st.not_understood += 1
        if st.failures == 1:
            for ev in r.say(f"{why} {st.last_prompt or 'How can I help you?'}"):
                yield ev
        elif st.failures == 2:
            st.fallback_offered = True
            for ev in r.say(
                f"{why} I'm having trouble understanding. You can say front desk to speak with a person, "
                "or say menu for the keypad options."
            ):
                yield ev
        elif ctx.settings.brain.fallback_action == "menu":
            for ev in r.say("Let me give you the keypad menu instead."):
                yield ev
            yield Action("menu", {"reason": "not understood"})
        else:
            for ev in r.say("Let me connect you with the front desk, they'll be happy to help."):
                yield ev
            async for ev in self._run_transfer(ctx, "front desk"):
                yield ev

    async def _run_transfer(self, ctx: CallContext, dept: str) -> AsyncIterator[BrainEvent]:
        res, err = await ctx.run_tool("transfer_to_human", {"department": dept})
        yield _tool_event("transfer_to_human", {"department": dept}, res, err)
        ext = ctx.settings.hotel.front_desk_extension
        yield (
            res.action
            if res is not None and res.action
            else Action("transfer", {"department": dept, "extension": ext})
        )

    async def _room_types(self, ctx: CallContext) -> list[dict[str, Any]]:
        st = ctx.state
        if not st.room_types:
            async with ctx.tools.sessions() as db:
                rows = list((await db.execute(select(RoomType).order_by(RoomType.base_rate))).scalars())
            counts: dict[str, int] = {}
            for rt in rows:
                for w in set(rt.name.lower().split()):
                    counts[w] = counts.get(w, 0) + 1
            st.room_types = [
                {
                    "code": rt.code,
                    "name": rt.name,
                    "base_rate": str(rt.base_rate),
                    "words": [w for w in rt.name.lower().split() if counts[w] == 1] + [rt.code.lower()],
                }
                for rt in rows
            ]
        return st.room_types

    def _mentioned_type(self, st: DialogState, toks: list[Tok]) -> str | None:
        words = {t.word for t in toks}
        hits = {rt["code"] for rt in st.room_types if words & set(rt["words"])}
        if not hits:
            # Whisper's near misses of a distinctive word: "dipole" for "double", "harbor" for "harbour"
            known = {w: rt["code"] for rt in st.room_types for w in rt["words"] if len(w) >= 5}
            for w in words:
                if len(w) >= 5:
                    close = difflib.get_close_matches(w, list(known), n=1, cutoff=0.66)
                    if close:
                        hits.add(known[close[0]])
        return hits.pop() if len(hits) == 1 else None
