"""The cancellation flow: find the booking (caller id, else code and name), confirm, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from ari_app.brain.context import CallContext
from ari_app.brain.dialogs.common import (
    DialogBase,
    _Reply,
    _tool_event,
)
from ari_app.brain.events import BrainEvent
from ari_app.brain.nlu import (
    Tok,
    parse_code,
    parse_name,
)
from ari_app.tools.hotel import short_date, spoken_code


class CancelDialog(DialogBase):
    async def _cancel_start(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok]
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        st.cancel_code = st.cancel_name = None
        code = parse_code(text, toks)
        if code:
            async for ev in self._cancel_lookup(ctx, r, {"confirmation_code": code}):
                yield ev
            return
        if sum(c.isdigit() for c in ctx.caller_number) >= 7:
            res, err = await ctx.run_tool("find_reservation", {"phone": ctx.caller_number})
            yield _tool_event("find_reservation", {"phone": ctx.caller_number}, res, err)
            if res is not None:
                found = [x for x in res.data["reservations"] if x["status"] == "confirmed"]
                if found:
                    async for ev in self._cancel_present(ctx, r, found[0], verified=True):
                        yield ev
                    return
        st.stage = "cancel_code"
        for ev in r.say(self._ask(st, "I can help with that. What's your confirmation code?")):
            yield ev

    async def _cancel_lookup(
        self, ctx: CallContext, r: _Reply, args: dict[str, Any]
    ) -> AsyncIterator[BrainEvent]:
        res, err = await ctx.run_tool("find_reservation", args)
        yield _tool_event("find_reservation", args, res, err)
        if res is None:
            ctx.state.stage = "cancel_code"
            async for ev in self._failed(ctx, r, "I couldn't find a booking with that code."):
                yield ev
            return
        found = res.data["reservations"][0]
        caller = "".join(c for c in ctx.caller_number if c.isdigit())[-10:]
        booked = "".join(c for c in found["phone"] if c.isdigit())[-10:]
        async for ev in self._cancel_present(ctx, r, found, verified=bool(caller) and caller == booked):
            yield ev

    async def _cancel_present(
        self, ctx: CallContext, r: _Reply, found: dict[str, Any], *, verified: bool
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        st.cancel_code = found["confirmation_code"]
        if found["status"] != "confirmed":
            st.stage = "anything_else"
            for ev in r.say(
                "That booking is already cancelled. "
                + self._ask(st, "Is there anything else I can help with?")
            ):
                yield ev
            return
        if not verified:
            st.stage = "cancel_verify"
            for ev in r.say(self._ask(st, "For your security, what's the name on the booking?")):
                yield ev
            return
        st.stage = "cancel_confirm"
        q = (
            f"I see booking {spoken_code(found['confirmation_code'])} for {found['guest_name']}, the {found['room_type']}, "
            f"{short_date(date.fromisoformat(found['check_in']))} to {short_date(date.fromisoformat(found['check_out']))}. "
            "Would you like me to cancel it?"
        )
        for ev in r.say(q):
            yield ev
        st.last_prompt = "Would you like me to cancel it?"

    async def _cancel_stage(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok], yn: bool | None
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        if st.stage == "cancel_code":
            code = parse_code(text, toks, expecting=True)
            if code:
                async for ev in self._cancel_lookup(ctx, r, {"confirmation_code": code}):
                    yield ev
                return
        elif st.stage == "cancel_verify":
            name = parse_name(text, expecting=True)
            if name:
                st.cancel_name = name
                st.stage = "cancel_confirm"
                st.failures = 0
                for ev in r.say(
                    self._ask(st, f"Thank you. Shall I cancel booking {spoken_code(st.cancel_code or '')}?")
                ):
                    yield ev
                return
        elif st.stage in ("cancel_confirm", "cancel_fee") and yn is not None:
            st.failures = 0
            if yn is False:
                st.stage = "anything_else"
                for ev in r.say(
                    "Okay, I'll leave it as it is. "
                    + self._ask(st, "Is there anything else I can help with?")
                ):
                    yield ev
                return
            args: dict[str, Any] = {
                "confirmation_code": st.cancel_code,
                "accept_fee": st.stage == "cancel_fee",
            }
            if st.cancel_name:
                args["guest_name"] = st.cancel_name
            if sum(c.isdigit() for c in ctx.caller_number) >= 7:
                args["phone"] = ctx.caller_number
            res, err = await ctx.run_tool("cancel_reservation", args)
            yield _tool_event("cancel_reservation", args, res, err)
            if res is None:
                st.stage = "anything_else"
                msg = err.message if err else "Sorry, I couldn't cancel that."
                for ev in r.say(f"{msg} " + self._ask(st, "Is there anything else I can help with?")):
                    yield ev
                return
            if res.data.get("needs_fee_agreement"):
                st.stage = "cancel_fee"
                for ev in r.say(res.summary):
                    yield ev
                st.last_prompt = "Shall I go ahead?"
                return
            st.stage = "anything_else"
            for ev in r.say(
                f"Done. {res.summary} " + self._ask(st, "Is there anything else I can help with?")
            ):
                yield ev
            return
        async for ev in self._failed(ctx, r):
            yield ev
