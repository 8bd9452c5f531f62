"""The embedded hotel dialog: intents and slot filling, no network, the default brain.

A booking is a handful of slots (dates, guests, pets, room type, name, phone). Each turn extracts
whatever the caller said about any of them, so "no, the fourth" or "actually three of us" corrects
the slot in place at any point, and the next question is always chosen from what is still missing.
Nothing is booked before the full booking has been read back and the caller said yes. Everything
except the tool calls is pure Python and runs in well under a millisecond per turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ari_app.brain.base import InputMode
from ari_app.brain.context import CallContext, DialogState, Turn
from ari_app.brain.dialogs.booking import BookingDialog
from ari_app.brain.dialogs.callback import CallbackDialog
from ari_app.brain.dialogs.cancel import CancelDialog
from ari_app.brain.dialogs.change import ChangeDialog
from ari_app.brain.dialogs.common import (
    BOOKING_STAGES,
    CALLBACK_STAGES,
    CANCEL_STAGES,
    MAX_UTTERANCE_CHARS,
    MODIFY_STAGES,
    YES_NO_STAGES,
    _Reply,
    _tool_event,
)
from ari_app.brain.dialogs.info import InfoDialog
from ari_app.brain.events import Action, BrainEvent
from ari_app.brain.nlu import (
    _SQLISH,
    detect_intent,
    has_any,
    parse_dates,
    parse_guests,
    tokenize,
    words_of,
    yes_no,
)

__all__ = ["MAX_UTTERANCE_CHARS", "EmbeddedBrain"]


class EmbeddedBrain(InfoDialog, ChangeDialog, CancelDialog, CallbackDialog, BookingDialog):
    """The dispatcher: requests that win in any stage first, then the flow the call is in."""

    name = "embedded"

    # ------------------------------------------------------------------ entry points

    async def greet(self, ctx: CallContext) -> AsyncIterator[BrainEvent]:
        reply = _Reply()
        first_name = ""
        if sum(c.isdigit() for c in ctx.caller_number) >= 7:
            res, err = await ctx.run_tool("get_caller_history", {"phone": ctx.caller_number})
            yield _tool_event("get_caller_history", {"phone": ctx.caller_number}, res, err)
            if res is not None:
                first_name = str(res.data.get("first_name") or "")
                if res.data.get("name"):
                    ctx.state.guest_name = str(res.data["name"])
        hotel = ctx.settings.hotel.name
        if first_name:
            text = f"Welcome back to {hotel}, {first_name}! How can I help you today?"
        else:
            text = (
                f"Thank you for calling {hotel}. I can check availability, book a room, "
                "or answer questions about the hotel. How can I help you?"
            )
        ctx.state.last_prompt = "How can I help you?"
        for ev in reply.say(text):
            yield ev
        ctx.turns.append(Turn("agent", " ".join(reply.spoken)))

    async def respond(
        self, ctx: CallContext, text: str, mode: InputMode = "speech"
    ) -> AsyncIterator[BrainEvent]:
        ctx.turns.append(Turn("caller", text[:MAX_UTTERANCE_CHARS], mode))
        reply = _Reply()
        async for ev in self._turn(ctx, text, mode, reply):
            yield ev
        ctx.turns.append(Turn("agent", " ".join(reply.spoken)))

    # ------------------------------------------------------------------ the turn

    async def _turn(
        self, ctx: CallContext, raw: str, mode: InputMode, r: _Reply
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        if len(raw) > MAX_UTTERANCE_CHARS:
            for ev in r.say("Sorry, that was a lot at once. Could you tell me in a few words what you need?"):
                yield ev
            return
        text = self._dtmf_text(st, raw) if mode == "dtmf" else raw.strip()
        if not text:
            async for ev in self._failed(ctx, r):
                yield ev
            return
        if _SQLISH.search(text):
            async for ev in self._failed(
                ctx, r, "Sorry, I can only help with rooms, bookings and questions about the hotel."
            ):
                yield ev
            return
        toks = tokenize(text)
        today = ctx.today()
        dates = parse_dates(text, toks, today, st.check_in)
        guests = parse_guests(toks, expecting=st.stage == "ask_guests")
        topic = ctx.facts.lookup(text)
        has_slots = dates.any or guests.any
        intent = detect_intent(text, toks, topic is not None, has_slots)
        yn = yes_no(toks)

        # Requests that win in any stage.
        if intent == "human" or (
            st.fallback_offered and has_any(words_of(toks), ("person", "front desk", "desk"))
        ):
            async for ev in self._transfer(ctx, r, toks):
                yield ev
            return
        if intent == "menu":
            st.failures = 0
            for ev in r.say("Sure, here's the keypad menu."):
                yield ev
            yield Action("menu", {"reason": "caller asked"})
            return
        if intent == "repeat":
            last = next((t.text for t in reversed(ctx.turns[:-1]) if t.role == "agent"), st.last_prompt)
            for ev in r.say(last or "How can I help you?"):
                yield ev
            return
        if intent == "goodbye" or (st.stage == "anything_else" and yn is False and not has_slots):
            async for ev in self._goodbye(ctx, r):
                yield ev
            return
        if intent == "callback" and st.stage not in CALLBACK_STAGES:
            async for ev in self._callback_start(ctx, r, text, toks):
                yield ev
            return
        if intent == "cancel" and st.stage not in CANCEL_STAGES:
            async for ev in self._cancel_start(ctx, r, text, toks):
                yield ev
            return
        if intent == "modify" and st.stage not in BOOKING_STAGES | MODIFY_STAGES:
            async for ev in self._modify_start(ctx, r, text, toks):
                yield ev
            return
        if (
            intent == "info"
            and topic is not None
            and st.stage not in ("ask_name", "modify_verify", "modify_code")
        ):
            async for ev in self._info(ctx, r, topic.name, toks):
                yield ev
            return

        if st.stage in BOOKING_STAGES:
            async for ev in self._booking(ctx, r, text, toks, dates, guests, yn):
                yield ev
        elif st.stage in CANCEL_STAGES:
            async for ev in self._cancel_stage(ctx, r, text, toks, yn):
                yield ev
        elif st.stage in CALLBACK_STAGES:
            async for ev in self._callback_stage(ctx, r, text, toks, yn):
                yield ev
        elif st.stage in MODIFY_STAGES:
            async for ev in self._modify_stage(ctx, r, text, toks, yn):
                yield ev
        elif st.stage == "anything_else" and yn is True and not has_slots and intent is None:
            st.failures = 0
            st.stage = "idle"
            for ev in r.say(self._ask(st, "What can I help you with?")):
                yield ev
        elif intent in ("book", "price"):
            st.intent = intent
            if st.stage not in BOOKING_STAGES:
                st.stage = "ask_dates"
                if intent == "price" and not dates.any:
                    async for ev in self._price_overview(ctx, r):
                        yield ev
                    return
            async for ev in self._booking(ctx, r, text, toks, dates, guests, yn):
                yield ev
        else:
            async for ev in self._failed(ctx, r):
                yield ev

    def _dtmf_text(self, st: DialogState, digits: str) -> str:
        d = digits.strip().rstrip("#")
        if d == "0":
            return "operator"
        if d == "*":
            return "menu"
        if st.stage in YES_NO_STAGES and d in ("1", "2"):
            return "yes" if d == "1" else "no"
        return d
