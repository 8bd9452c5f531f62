"""The cancellation flow: find the booking (caller id, else code and name), confirm, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from ari_app.brain.context import CallContext, DialogState
from ari_app.brain.dialogs.common import (
    DialogBase,
    _Reply,
    _tool_event,
)
from ari_app.brain.events import BrainEvent
from ari_app.brain.nlu import (
    Tok,
    has_any,
    parse_code,
    parse_dates,
    parse_name,
    words_of,
)
from ari_app.tools.hotel import name_matches, short_date, spoken_code


def _span(check_in: str, check_out: str) -> str:
    a, b = date.fromisoformat(check_in), date.fromisoformat(check_out)
    return f"{a:%B} {a.day} to {b.day}" if a.month == b.month else f"{a:%B} {a.day} to {b:%B} {b.day}"


class CancelDialog(DialogBase):
    async def _cancel_start(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok]
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        st.cancel_code = st.cancel_name = None
        code = parse_code(text, toks)
        if code:
            async for ev in self._cancel_lookup(ctx, r, code):
                yield ev
            return
        if sum(c.isdigit() for c in ctx.caller_number) >= 7:
            event, found = await self._bookings_for_phone(ctx, ctx.caller_number)
            yield event
            if event.ok:
                st.cancel_found = found
                if len(found) > 1:
                    # never pick one for the caller: name them all and let the caller say which
                    st.stage = "cancel_pick"
                    listed = [
                        f"{spoken_code(x['confirmation_code'])} for {x['guest_name']}, "
                        f"{_span(x['check_in'], x['check_out'])}"
                        for x in found[:3]
                    ]
                    more = f", and {len(found) - 3} more" if len(found) > 3 else ""
                    text = (
                        f"I see {len(found)} bookings for your number: {'; '.join(listed[:-1])}; and {listed[-1]}{more}. "
                        + self._ask(
                            st,
                            "Which one would you like to cancel? The confirmation code or the name is fine.",
                        )
                    )
                    for ev in r.say(text):
                        yield ev
                    return
                if found:
                    async for ev in self._cancel_present(ctx, r, found[0], verified=True):
                        yield ev
                    return
        st.stage = "cancel_code"
        for ev in r.say(self._ask(st, "I can help with that. What's your confirmation code?")):
            yield ev

    def _cancel_lookup(self, ctx: CallContext, r: _Reply, code: str) -> AsyncIterator[BrainEvent]:
        return self._find_by_code(ctx, r, code, retry_stage="cancel_code", found_step=self._cancel_found)

    async def _cancel_found(
        self, ctx: CallContext, r: _Reply, found: dict[str, Any]
    ) -> AsyncIterator[BrainEvent]:
        """Found by code: the caller is taken as the guest when calling from the booking's phone."""
        caller = "".join(c for c in ctx.caller_number if c.isdigit())[-10:]
        booked = "".join(c for c in found["phone"] if c.isdigit())[-10:]
        async for ev in self._cancel_present(ctx, r, found, verified=bool(caller) and caller == booked):
            yield ev

    async def _cancel_present(
        self, ctx: CallContext, r: _Reply, found: dict[str, Any], *, verified: bool
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        if not any(x["confirmation_code"] == found["confirmation_code"] for x in st.cancel_found):
            st.cancel_found = [*st.cancel_found, found]
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

    def _pick_booking(
        self, st: DialogState, text: str, toks: list[Tok], today: date
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Which of the caller's bookings this names: by code, by name, by order or by arrival date.
        Returns (code heard, booking picked); a heard code may belong to no listed booking."""
        found = st.cancel_found
        code = parse_code(text, toks, expecting=st.stage in ("cancel_pick", "cancel_code"))
        if code:
            return code, next((x for x in found if x["confirmation_code"] == code), None)
        name = parse_name(text, expecting=st.stage in ("cancel_pick", "cancel_confirm"))
        if name:
            hits = [x for x in found if name_matches(name, str(x["guest_name"]))]
            if len(hits) == 1:
                return None, hits[0]
        # "no wait, the one under John Smith": a booking's name anywhere in what was said
        said = " ".join(
            t.word for t in toks if len(t.word) >= 3 and t.word not in ("the", "one", "under", "for")
        )
        hits = [x for x in found if said and name_matches(said, str(x["guest_name"]))]
        if len(hits) == 1 and len(found) > 1:
            return None, hits[0]
        if st.stage == "cancel_pick" and found:
            padded = words_of(toks)
            if has_any(padded, ("first", "first one", "earlier", "earliest")):
                return None, found[0]
            if has_any(padded, ("second", "second one")) and len(found) > 1:
                return None, found[1]
            if has_any(padded, ("last", "last one", "later", "latest")):
                return None, found[-1]
            dates = parse_dates(text, toks, today)
            day = dates.single or dates.check_in
            if day is not None:
                hits = [x for x in found if date.fromisoformat(x["check_in"]).day == day.day]
                if len(hits) == 1:
                    return None, hits[0]
        return None, None

    async def _cancel_stage(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok], yn: bool | None
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        if st.stage in ("cancel_pick", "cancel_confirm"):
            code, picked = self._pick_booking(st, text, toks, ctx.today())
            if picked is not None and (
                st.stage == "cancel_pick" or picked["confirmation_code"] != st.cancel_code
            ):
                # the caller named the booking (or a different one than the one read back): that one
                async for ev in self._cancel_present(ctx, r, picked, verified=True):
                    yield ev
                return
            if picked is not None or (code and code == st.cancel_code):
                st.failures = 0
                found = picked or {}
                who = f" for {found['guest_name']}" if found.get("guest_name") else ""
                for ev in r.say(
                    self._ask(
                        st,
                        f"Yes, that's booking {spoken_code(st.cancel_code or '')}{who}. Shall I cancel it?",
                    )
                ):
                    yield ev
                return
            if code:
                async for ev in self._cancel_lookup(ctx, r, code):
                    yield ev
                return
            if st.stage == "cancel_pick":
                async for ev in self._failed(ctx, r):
                    yield ev
                return
        if st.stage == "cancel_code":
            code = parse_code(text, toks, expecting=True)
            if code:
                async for ev in self._cancel_lookup(ctx, r, code):
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
