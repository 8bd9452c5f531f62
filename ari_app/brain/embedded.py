"""The embedded hotel dialog: intents and slot filling, no network, the default brain.

A booking is a handful of slots (dates, guests, pets, room type, name, phone). Each turn extracts
whatever the caller said about any of them, so "no, the fourth" or "actually three of us" corrects
the slot in place at any point, and the next question is always chosen from what is still missing.
Nothing is booked before the full booking has been read back and the caller said yes. Everything
except the tool calls is pure Python and runs in well under a millisecond per turn.
"""

from __future__ import annotations

import logging
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
    Tok,
    detect_intent,
    has_any,
    mentions_card,
    parse_dates,
    parse_guests,
    tokenize,
    words_of,
    yes_no,
)
from ari_app.privacy import mask_card_numbers
from ari_app.sentiment import call_sentiment

__all__ = ["MAX_UTTERANCE_CHARS", "EmbeddedBrain"]

log = logging.getLogger(__name__)


def greeting_text(hotel: str, first_name: str = "") -> str:
    """The greeting, worded in one place so that start-up can render it before the first caller."""
    if first_name:
        return f"Welcome back to {hotel}, {first_name}! How can I help you today?"
    return (
        f"Thank you for calling {hotel}. I can check availability, book a room, "
        "or answer questions about the hotel. How can I help you?"
    )


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
                # the greeting may recognise the line, but the name for a booking is only ever the one
                # the caller gives in this call: a shared phone must not book under someone else's name
                first_name = str(res.data.get("first_name") or "")
        text = greeting_text(ctx.settings.hotel.name, first_name)
        ctx.state.last_prompt = "How can I help you?"
        for ev in reply.say(text):
            yield ev
        ctx.turns.append(Turn("agent", " ".join(reply.spoken)))

    async def respond(
        self, ctx: CallContext, text: str, mode: InputMode = "speech"
    ) -> AsyncIterator[BrainEvent]:
        ctx.turns.append(Turn("caller", mask_card_numbers(text[:MAX_UTTERANCE_CHARS]), mode))
        reply = _Reply()
        missed = ctx.state.not_understood
        async for ev in self._turn(ctx, text, mode, reply):
            yield ev
        ctx.turns.append(Turn("agent", " ".join(reply.spoken)))
        if ctx.state.not_understood:
            await self._note_not_understood(ctx, fresh=ctx.state.not_understood > missed)

    async def _note_not_understood(self, ctx: CallContext, *, fresh: bool) -> None:
        """Keep the call's sentiment honest: the store scores each caller turn's words as it is
        written (before this reply), so after every reply of a call with misunderstood turns the
        running score is capped again (issue 17 D17)."""
        store, call_id = ctx.tools.store, ctx.call_id
        if store is None or call_id is None:
            return
        try:
            if fresh:
                await store.add_metric(call_id, "not_understood", 1.0, {"count": ctx.state.not_understood})
            call = await store.get_call(call_id)
            value, tag = call_sentiment(call.sentiment if call else None, ctx.state.not_understood)
            await store.update_call(call_id, sentiment=value, sentiment_label=tag)
        except Exception:  # bookkeeping: never let it break the conversation
            log.warning("call %s: could not record a turn not understood", call_id, exc_info=True)

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
        if mentions_card(text, toks):
            async for ev in self._card_refused(ctx, r):
                yield ev
            return
        today = ctx.today()
        dates = parse_dates(text, toks, today, st.check_in)
        guests = parse_guests(toks, expecting=st.stage == "ask_guests")
        topic = ctx.facts.lookup(text)
        has_slots = dates.any or guests.any
        intent = detect_intent(text, toks, topic is not None, has_slots)
        yn = yes_no(toks)
        if st.stage == "end_confirm":
            resume, st.resume_stage = st.resume_stage or "idle", ""
            if intent == "goodbye" or (yn is True and intent is None):
                async for ev in self._goodbye(ctx, r):
                    yield ev
                return
            st.stage = resume
            carry_on = has_any(words_of(toks), ("carry on", "continue", "go on", "keep going", "not yet"))
            if (yn is False or carry_on) and intent is None and not has_slots:
                st.failures = 0
                for ev in r.say(f"Okay, let's carry on. {st.last_prompt or 'How can I help you?'}"):
                    yield ev
                return
        if st.stage == "pay_link":
            st.stage = "anything_else"
            if yn is not None and intent is None:
                async for ev in self._send_pay_link(ctx, r, yn):
                    yield ev
                return

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
        if intent == "goodbye" and self._may_be_unfinished(ctx, toks):
            # a request is open (or a lone "bye" right after the greeting, Whisper's "Hi"): ask first
            first = not any(t.role == "caller" for t in ctx.turns[:-1])
            st.resume_stage, st.stage, st.failures = st.stage, "end_confirm", 0
            q = (
                "Sorry, did you want to end the call? If not, how can I help you?"
                if first and st.resume_stage == "idle"
                else "We haven't finished yet. Shall I end the call now, or would you like to carry on?"
            )
            for ev in r.say(q):  # last_prompt stays: it is what "carry on" goes back to
                yield ev
            return
        if intent == "goodbye" or (
            st.stage == "anything_else" and yn is False and not has_slots and intent in (None, "goodbye")
        ):
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
            fresh = st.stage not in BOOKING_STAGES
            if fresh:
                st.stage = "ask_dates"
                if intent == "price" and not dates.any:
                    async for ev in self._price_overview(ctx, r):
                        yield ev
                    return
            async for ev in self._booking(ctx, r, text, toks, dates, guests, yn, fresh=fresh):
                yield ev
        else:
            async for ev in self._failed(ctx, r):
                yield ev

    def _may_be_unfinished(self, ctx: CallContext, toks: list[Tok]) -> bool:
        """A farewell that should be checked before hanging up: a request is still open, or the
        caller's very first words are a bare "bye" (Whisper hears the flite caller's "Hi" so)."""
        st = ctx.state
        if st.stage in BOOKING_STAGES | CANCEL_STAGES | CALLBACK_STAGES | MODIFY_STAGES:
            return True
        first = not any(t.role == "caller" for t in ctx.turns[:-1])
        return (
            first and st.stage == "idle" and all(t.word in ("bye", "hi", "hello", "oh", "um") for t in toks)
        )

    async def _card_refused(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        """Card numbers are never taken by voice (DESIGN 5): say so plainly and offer the link."""
        st = ctx.state
        st.failures = 0
        text = "For your security, I never take card numbers over the phone, so please don't read them out. "
        if st.confirmation_code:
            st.stage = "pay_link"
            text += self._ask(st, "I can text you a secure link to pay online instead. Shall I send it?")
        elif st.stage in BOOKING_STAGES:
            text += f"Once your booking is made, I'll text you a secure link to pay online. {st.last_prompt}"
        else:
            text += (
                "When you book, we text you a secure link to pay online. "
                f"{st.last_prompt or 'How can I help you?'}"
            )
        for ev in r.say(text):
            yield ev

    async def _send_pay_link(self, ctx: CallContext, r: _Reply, yn: bool) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        code = st.confirmation_code
        if not yn or not code:
            for ev in r.say("Okay. " + self._ask(st, "Is there anything else I can help you with?")):
                yield ev
            return
        args = {"confirmation_code": code}
        pay, perr = await ctx.run_tool("generate_payment_link", args)
        yield _tool_event("generate_payment_link", args, pay, perr)
        sms, serr = await ctx.run_tool("send_sms_confirmation", args)
        yield _tool_event("send_sms_confirmation", args, sms, serr)
        done = (
            "I've texted you the secure payment link."
            if pay is not None and sms is not None
            else "Sorry, I couldn't send the link just now; the front desk can send it for you."
        )
        for ev in r.say(f"{done} " + self._ask(st, "Is there anything else I can help you with?")):
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
