"""The embedded hotel dialog: intents and slot filling, no network, the default brain.

A booking is a handful of slots (dates, guests, pets, room type, name, phone). Each turn extracts
whatever the caller said about any of them, so "no, the fourth" or "actually three of us" corrects
the slot in place at any point, and the next question is always chosen from what is still missing.
Nothing is booked before the full booking has been read back and the caller said yes. Everything
except the tool calls is pure Python and runs in well under a millisecond per turn.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ari_app.brain.base import InputMode
from ari_app.brain.context import CallContext, DialogState, ModifyDraft, Turn
from ari_app.brain.events import Action, BrainEvent, Say, ToolCalled
from ari_app.brain.nlu import (
    _SQLISH,
    DEPARTMENT_WORDS,
    DateSlots,
    Guests,
    Tok,
    detect_intent,
    has_any,
    parse_callback_time,
    parse_code,
    parse_dates,
    parse_email,
    parse_guest_delta,
    parse_guests,
    parse_name,
    parse_pets,
    parse_phone,
    parse_stay_shift,
    tokenize,
    words_of,
    yes_no,
)
from ari_app.brain.sentences import split_sentences
from ari_app.tools.errors import NotAvailable, NotFound, ToolError
from ari_app.tools.hotel import name_matches, short_date, spoken_code, spoken_money
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
CANCEL_STAGES = frozenset({"cancel_code", "cancel_verify", "cancel_confirm", "cancel_fee"})
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


class EmbeddedBrain:
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

    def _ask(self, st: DialogState, question: str) -> str:
        st.last_prompt = question
        return question

    # ------------------------------------------------------------------ failures and hand-offs

    async def _failed(
        self, ctx: CallContext, r: _Reply, why: str = "Sorry, I didn't catch that."
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures += 1
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

    async def _transfer(self, ctx: CallContext, r: _Reply, toks: list[Tok]) -> AsyncIterator[BrainEvent]:
        padded = words_of(toks)
        known = {d.lower(): d for d in ctx.settings.hotel.departments}
        dept = "front desk"
        for name, words in DEPARTMENT_WORDS.items():
            if name in known and has_any(padded, words):
                dept = known[name]
                break
        if dept.lower() not in known:
            dept = next(iter(ctx.settings.hotel.departments), "front desk")
        ctx.state.failures = 0
        for ev in r.say(f"Of course. I'm connecting you to the {dept} now."):
            yield ev
        async for ev in self._run_transfer(ctx, dept):
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

    async def _goodbye(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        for ev in r.say(f"Thank you for calling {ctx.settings.hotel.name}. Goodbye!"):
            yield ev
        res, err = await ctx.run_tool("end_call", {"reason": "caller said goodbye"})
        yield _tool_event("end_call", {"reason": "caller said goodbye"}, res, err)
        yield Action("hangup", {"reason": "goodbye"})

    async def _info(
        self, ctx: CallContext, r: _Reply, topic: str, toks: list[Tok]
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        res, err = await ctx.run_tool("hotel_info", {"topic": topic})
        yield _tool_event("hotel_info", {"topic": topic}, res, err)
        answer = res.summary if res is not None else (err.message if err else "")
        if st.stage in BOOKING_STAGES | CANCEL_STAGES | CALLBACK_STAGES | MODIFY_STAGES:
            if (
                topic == "pets"
                and parse_pets(toks)
                and st.stage in ("modify_what", "modify_confirm", "modify_alt")
                and st.modify.booking is not None
            ):
                before = replace(st.modify)
                if self._modify_changes(ctx, "with a pet", tokenize("with a pet"))[0]:
                    for ev in r.say(answer):
                        yield ev
                    async for ev in self._modify_preview(ctx, r, before):
                        yield ev
                    return
            if topic == "pets" and parse_pets(toks) and st.stage in BOOKING_STAGES and not st.pets:
                st.pets = True
                st.options, st.alternative, st.total = [], None, None
                if st.stage in ("offer", "ask_name", "ask_phone", "ask_phone_number", "confirm"):
                    for ev in r.say(answer + " I'll look for a room that takes pets."):
                        yield ev
                    async for ev in self._advance(ctx, r):
                        yield ev
                    return
            follow = st.last_prompt
        else:
            st.stage = "anything_else"
            follow = self._ask(st, "Is there anything else I can help you with?")
        for ev in r.say(f"{answer} {follow}"):
            yield ev

    async def _price_overview(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        types = await self._room_types(ctx)
        cur = ctx.settings.hotel.currency
        ctx.state.failures = 0
        if types:
            low, high = types[0], types[-1]
            text = (
                f"Our rooms start at {spoken_money(Decimal(low['base_rate']), cur)} a night for the {low['name']}, "
                f"up to {spoken_money(Decimal(high['base_rate']), cur)} for the {high['name']}. "
            )
        else:
            text = ""
        for ev in r.say(text + self._ask(ctx.state, "For which dates would you like a price?")):
            yield ev

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
        return hits.pop() if len(hits) == 1 else None

    # ------------------------------------------------------------------ booking

    def _apply(
        self, ctx: CallContext, text: str, toks: list[Tok], dates: DateSlots, guests: Guests
    ) -> tuple[bool, str | None]:
        """Take every slot the caller gave; validate the result first, so a bad value changes nothing."""
        st = ctx.state
        today = ctx.today()
        hotel = ctx.settings.hotel
        ci, co = st.check_in, st.check_out
        if dates.error:
            return False, f"Sorry, {dates.error}. Which date did you mean?"
        single = dates.single
        if single is not None and dates.single_is_bare_day and ci is not None and st.stage != "ask_dates":
            single = (
                _same_month_after(ci, single.day, today)
                if st.stage != "ask_checkout"
                else _day_after(ci, single.day)
            )
        if dates.check_in or dates.check_out:
            ci = dates.check_in or ci
            co = dates.check_out or co
            if dates.check_in and not dates.check_out and ci is not None and co is not None and co <= ci:
                # a new arrival after the old departure keeps the length of stay
                old_nights = (st.check_out - st.check_in).days if st.check_out and st.check_in else None
                co = ci + timedelta(days=old_nights) if old_nights else None
        elif single is not None:
            if st.stage == "ask_checkout" and ci is not None:
                co = single
            elif ci is None or st.stage == "ask_dates":
                ci, co = single, (co if co and co > single and st.stage != "ask_dates" else None)
            elif single > ci:
                co = single
            else:
                nights = (co - ci).days if co else None
                ci = single
                if co is None or co <= ci:
                    co = ci + timedelta(days=nights) if nights else None
        nights_given = dates.nights or (st.pending_nights if ci and not co else None)
        if nights_given:
            if ci is not None:
                co = ci + timedelta(days=nights_given)
            else:
                st.pending_nights = nights_given
        # validate what would change
        if ci is not None and ci != st.check_in and ci < today:
            return False, f"{short_date(ci)}, {ci.year} is in the past. What date would you like to check in?"
        if co is not None and co != st.check_out and co <= today:
            return (
                False,
                f"{short_date(co)}, {co.year} is in the past. What date would you like to check out?",
            )
        if ci is not None and ci > today + timedelta(days=hotel.booking_horizon_days):
            return (
                False,
                f"I can only take bookings up to {hotel.booking_horizon_days} days ahead. Which date would you like?",
            )
        if ci is not None and co is not None and co <= ci:
            return False, (
                f"The check-out date has to be after the check-in date, {short_date(ci)}. "
                "What date will you check out?"
            )
        if ci is not None and co is not None and (co - ci).days > hotel.max_nights:
            return (
                False,
                f"I can book at most {hotel.max_nights} nights at a time. How many nights would you like?",
            )
        adults = guests.adults if guests.adults is not None else st.adults
        children = guests.children if guests.children is not None else st.children
        if guests.any:
            if adults is not None and adults < 1:
                return False, "At least one adult needs to be staying. How many adults will there be?"
            if adults is not None and adults + children > hotel.max_guests_per_booking:
                return False, (
                    f"I can book up to {hotel.max_guests_per_booking} guests in one reservation. For a larger group, "
                    "our reservations team can help; just say reservations. How many guests should I book for?"
                )
        pets = parse_pets(toks)
        changed = (ci, co, adults, children) != (st.check_in, st.check_out, st.adults, st.children)
        changed = changed or (pets is not None and pets != st.pets)
        st.check_in, st.check_out, st.adults, st.children = ci, co, adults, children
        if co is not None:
            st.pending_nights = None
        if pets is not None:
            st.pets = pets
        if changed:
            st.options, st.alternative, st.total = [], None, None
            st.booking_key = None
        wanted = self._mentioned_type(st, toks)
        any_change = changed
        if wanted and wanted != st.room_type:
            st.room_type, st.total = wanted, None
            any_change = True
        email = parse_email(text)
        if email and email != st.email:
            st.email = email
            any_change = True
        name = parse_name(text, expecting=False)
        if name and name != st.guest_name:
            st.guest_name = name
            any_change = True
        return any_change, None

    async def _booking(
        self,
        ctx: CallContext,
        r: _Reply,
        text: str,
        toks: list[Tok],
        dates: DateSlots,
        guests: Guests,
        yn: bool | None,
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        await self._room_types(ctx)
        stage = st.stage
        changed, error = self._apply(ctx, text, toks, dates, guests)
        if error:
            st.failures = 0
            for ev in r.say(error):
                yield ev
            st.last_prompt = split_sentences(error)[-1]
            return
        understood = changed
        if stage == "offer" and not changed:
            picked = self._pick_option(st, toks, yn)
            if picked == "other_dates":
                st.check_in = st.check_out = None
                st.options, st.alternative, st.room_type = [], None, None
                st.stage = "ask_dates"
                for ev in r.say("No problem. " + self._ask(st, "Which other dates would you like?")):
                    yield ev
                st.failures = 0
                return
            understood = picked is not None
        elif stage == "ask_name" and not st.guest_name:
            name = parse_name(text, expecting=True)
            if name:
                st.guest_name = name
                understood = True
        elif stage == "ask_phone":
            phone = parse_phone(toks)
            if phone:
                st.phone, understood = phone, True
            elif yn is True:
                st.phone, understood = ctx.caller_number, True
            elif yn is False:
                st.stage = "ask_phone_number"
                st.failures = 0
                for ev in r.say(self._ask(st, "What number should we use?")):
                    yield ev
                return
        elif stage == "ask_phone_number":
            phone = parse_phone(toks)
            if phone:
                st.phone, understood = phone, True
        elif stage == "confirm" and not changed:
            if yn is True:
                st.failures = 0
                async for ev in self._book(ctx, r):
                    yield ev
                return
            if yn is False:
                st.failures = 0
                for ev in r.say(
                    self._ask(
                        st,
                        "What would you like to change: the dates, the number of guests, the room, or the name?",
                    )
                ):
                    yield ev
                return
            padded = words_of(toks)
            if " name " in padded:
                st.guest_name = None
                understood = True
            elif " room " in padded:
                st.room_type = None
                st.total = None
                understood = True
            elif has_any(padded, ("date", "dates")):
                st.check_in = st.check_out = None
                st.options = []
                understood = True
            elif has_any(padded, ("guests", "people", "number of guests")):
                st.adults = None
                st.options = []
                understood = True
        if not understood and stage in ("ask_dates", "ask_checkout", "ask_guests") and st.stage == stage:
            understood = False
        if not understood and (stage != st.stage or stage == "ask_dates" and st.intent and dates.any):
            understood = True
        if not understood and st.stage == stage and stage not in ("idle",) and not (dates.any or guests.any):
            async for ev in self._failed(ctx, r):
                yield ev
            return
        st.failures = 0
        async for ev in self._advance(ctx, r):
            yield ev

    def _pick_option(self, st: DialogState, toks: list[Tok], yn: bool | None) -> str | None:
        padded = words_of(toks)
        if st.alternative is not None:
            if yn is True:
                alt = st.alternative
                st.check_in = date.fromisoformat(alt["check_in"])
                st.check_out = date.fromisoformat(alt["check_out"])
                st.room_type = alt["room_type"]
                st.total = Decimal(alt["total"])
                st.alternative = None
                st.options = [{"room_type": alt["room_type"], "name": alt["name"], "total": alt["total"]}]
                return "picked"
            if yn is False:
                return "other_dates"
            return None
        opts = st.options
        if not opts:
            return None
        choice: dict[str, Any] | None = None
        codes = {o["room_type"]: o for o in opts}
        wanted = self._mentioned_type(st, toks)
        if wanted and wanted in codes:
            choice = codes[wanted]
        elif has_any(
            padded, ("cheapest", "cheaper", "cheapest one", "least expensive", "lowest", "first", "first one")
        ):
            choice = opts[0]
        elif has_any(padded, ("second", "second one", "middle")) and len(opts) > 1:
            choice = opts[1]
        elif has_any(padded, ("third", "third one")) and len(opts) > 2:
            choice = opts[2]
        elif has_any(padded, ("most expensive", "best", "biggest", "nicest", "last", "last one", "largest")):
            choice = opts[-1]
        elif yn is True and len(opts) == 1:
            choice = opts[0]
        elif yn is False:
            return "other_dates"
        if choice is None:
            return None
        st.room_type = choice["room_type"]
        st.total = Decimal(choice["total"])
        return "picked"

    async def _advance(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        """Ask for the first missing slot, check availability when the stay is known, or read back."""
        st = ctx.state
        if st.check_in is None:
            st.stage = "ask_dates"
            q = (
                "What date would you like to arrive?"
                if st.pending_nights
                else "What date would you like to check in?"
            )
            for ev in r.say(self._ask(st, q)):
                yield ev
            return
        if st.check_out is None:
            st.stage = "ask_checkout"
            q = f"Checking in {short_date(st.check_in)}. How many nights, or what date will you check out?"
            for ev in r.say(q):
                yield ev
            st.last_prompt = "How many nights would you like to stay?"
            return
        if st.adults is None:
            st.stage = "ask_guests"
            for ev in r.say(self._ask(st, "How many guests will be staying, adults and children?")):
                yield ev
            return
        if st.total is None or not st.options:
            async for ev in self._offer(ctx, r):
                yield ev
            return
        if not st.guest_name:
            st.stage = "ask_name"
            for ev in r.say(self._ask(st, "May I have the name for the booking, please?")):
                yield ev
            return
        if not st.phone:
            if sum(c.isdigit() for c in ctx.caller_number) >= 7:
                st.stage = "ask_phone"
                q = (
                    f"Thank you, {st.guest_name.split()[0]}. Shall I use the number you're calling from, ending in "
                    f"{_last4(ctx.caller_number)}, for your confirmation text?"
                )
            else:
                st.stage = "ask_phone_number"
                q = f"Thank you, {st.guest_name.split()[0]}. What phone number should we use for the booking?"
            for ev in r.say(q):
                yield ev
            st.last_prompt = q
            return
        st.stage = "confirm"
        if st.booking_key is None:
            st.booking_key = f"{ctx.session_id or 'nosession'}:{uuid.uuid4().hex[:16]}"
        name = next((o["name"] for o in st.options if o["room_type"] == st.room_type), st.room_type)
        nights = (st.check_out - st.check_in).days
        total = spoken_money(st.total, ctx.settings.hotel.currency)
        pets = ", with your pet" if st.pets else ""
        q = (
            f"To confirm: the {name} for {st.guest_name}, checking in {short_date(st.check_in)} and checking out "
            f"{short_date(st.check_out)}, {nights} night{'s' if nights != 1 else ''}, for "
            f"{_guests_phrase(st.adults, st.children)}{pets}. The total is {total}. Shall I book it?"
        )
        for ev in r.say(q):
            yield ev
        st.last_prompt = "Shall I book it?"

    async def _offer(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        assert st.check_in and st.check_out and st.adults
        args = {
            "check_in": st.check_in.isoformat(),
            "check_out": st.check_out.isoformat(),
            "adults": st.adults,
            "children": st.children,
            "pets": st.pets,
        }
        res, err = await ctx.run_tool("check_availability", args)
        yield _tool_event("check_availability", args, res, err)
        cur = ctx.settings.hotel.currency
        if res is None:
            st.stage = "ask_guests" if isinstance(err, NotAvailable) else "ask_dates"
            if st.stage == "ask_guests":
                st.adults, st.children = None, 0
            q = (
                "How many guests should I book for?"
                if st.stage == "ask_guests"
                else "Which dates would you like?"
            )
            for ev in r.say(f"{err.message if err else 'Sorry, I could not check that.'} {self._ask(st, q)}"):
                yield ev
            return
        opts: list[dict[str, Any]] = list(res.data["options"])
        st.options = opts
        nights = res.data["nights"]
        stay = (
            f"From {short_date(st.check_in)} to {short_date(st.check_out)}, that's {nights} "
            f"night{'s' if nights != 1 else ''} for {_guests_phrase(st.adults, st.children)}."
        )
        st.stage = "offer"
        if not opts:
            alt = res.data.get("alternative")
            pets = " for guests with a pet" if st.pets else ""
            if alt:
                st.alternative = alt
                q = "Would that work for you?"
                text = (
                    f"I'm sorry, we're fully booked{pets} from {short_date(st.check_in)} to {short_date(st.check_out)}. "
                    f"The nearest I have is the {alt['name']} from {short_date(date.fromisoformat(alt['check_in']))} to "
                    f"{short_date(date.fromisoformat(alt['check_out']))}, at {spoken_money(Decimal(alt['total']), cur)} "
                    f"in total. {q}"
                )
            else:
                st.stage = "ask_dates"
                st.check_in = st.check_out = None
                q = "Would you like to try different dates?"
                text = f"I'm sorry, we're fully booked{pets} around those dates. {q}"
            for ev in r.say(text):
                yield ev
            st.last_prompt = q
            return
        if st.room_type:
            chosen = next((o for o in opts if o["room_type"] == st.room_type), None)
            if chosen is not None:
                st.total = Decimal(chosen["total"])
                for ev in r.say(
                    f"{stay} The {chosen['name']} is available at {spoken_money(st.total, cur)} in total."
                ):
                    yield ev
                async for ev in self._advance(ctx, r):
                    yield ev
                return
            missing = next(
                (t["name"] for t in st.room_types if t["code"] == st.room_type), "room you asked for"
            )
            stay += f" The {missing} isn't available then."
            st.room_type = None
        listed = [f"the {o['name']} at {spoken_money(Decimal(o['total']), cur)}" for o in opts[:3]]
        if len(listed) == 1:
            q = "Would you like to book it?"
            text = f"{stay} I have {listed[0]} in total. {q}"
        else:
            q = "Which would you like?"
            text = f"{stay} I have {', '.join(listed[:-1])}, or {listed[-1]}, in total. {q}"
        st.options = opts[:3]
        for ev in r.say(text):
            yield ev
        st.last_prompt = q

    async def _book(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        assert st.check_in and st.check_out and st.adults and st.room_type and st.guest_name
        args: dict[str, Any] = {
            "check_in": st.check_in.isoformat(),
            "check_out": st.check_out.isoformat(),
            "adults": st.adults,
            "children": st.children,
            "pets": st.pets,
            "room_type": st.room_type,
            "guest_name": st.guest_name,
            "idempotency_key": st.booking_key,
        }
        if st.phone:
            args["phone"] = st.phone
        if st.email:
            args["email"] = st.email
        res, err = await ctx.run_tool("create_reservation", args)
        yield _tool_event("create_reservation", args, res, err)
        if res is None:
            if isinstance(err, NotAvailable):
                st.options, st.total, st.room_type, st.booking_key = [], None, None, None
                for ev in r.say("I'm sorry, that room was just taken by another caller. Let me check again."):
                    yield ev
                async for ev in self._offer(ctx, r):
                    yield ev
                return
            st.stage = "ask_dates" if err and err.fault == "caller" else "confirm"
            for ev in r.say(
                f"{err.message if err else 'Sorry, something went wrong.'} "
                + self._ask(st, "Would you like to try again, or speak with the front desk?")
            ):
                yield ev
            return
        code = str(res.data["confirmation_code"])
        st.confirmation_code = code
        extra = ""
        if ctx.settings.hotel.payment_link_secret.get_secret_value():
            pay, perr = await ctx.run_tool("generate_payment_link", {"confirmation_code": code})
            yield _tool_event("generate_payment_link", {"confirmation_code": code}, pay, perr)
            if pay is not None:
                extra = " with a secure link to pay online"
        if res.data.get("phone"):
            sms, serr = await ctx.run_tool("send_sms_confirmation", {"confirmation_code": code})
            yield _tool_event("send_sms_confirmation", {"confirmation_code": code}, sms, serr)
            sent = f" I've sent the details by text{extra}." if sms is not None else ""
        else:
            sent = ""
        st.reset_booking()
        st.stage = "anything_else"
        for ev in r.say(
            f"You're all set. Your confirmation code is {spoken_code(code)}.{sent} "
            + self._ask(st, "Is there anything else I can help you with?")
        ):
            yield ev

    # ------------------------------------------------------------------ cancellation

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

    # ------------------------------------------------------------------ changing a booking

    async def _modify_start(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok]
    ) -> AsyncIterator[BrainEvent]:
        """Find the booking first (caller id, else code and then name); what to change can wait."""
        st = ctx.state
        st.failures = 0
        st.modify = ModifyDraft(pending=text)
        await self._room_types(ctx)
        code = parse_code(text, toks)
        if code:
            async for ev in self._modify_lookup(ctx, r, code):
                yield ev
            return
        if _has_caller_id(ctx):
            args = {"phone": ctx.caller_number}
            res, err = await ctx.run_tool("find_reservation", args)
            yield _tool_event("find_reservation", args, res, err)
            today = ctx.today()
            found = (
                [
                    x
                    for x in res.data["reservations"]
                    if x["status"] == "confirmed" and date.fromisoformat(x["check_out"]) > today
                ]
                if res is not None
                else []
            )
            if len(found) == 1:
                async for ev in self._modify_found(ctx, r, found[0], by_caller_id=True):
                    yield ev
                return
            if len(found) > 1:
                st.stage = "modify_code"
                for ev in r.say(
                    f"I see {len(found)} bookings for your number. "
                    + self._ask(st, "What's the confirmation code of the one you'd like to change?")
                ):
                    yield ev
                return
        if not has_any(words_of(toks), EXPLICIT_MODIFY):
            dates = parse_dates(text, toks, ctx.today(), st.check_in)
            guests = parse_guests(toks)
            if dates.any or guests.any or has_any(words_of(toks), ("room", "rooms", "book")):
                # "two more nights in a room for two" from a line with no booking is a new booking
                st.modify = ModifyDraft()
                st.intent, st.stage = "book", "ask_dates"
                async for ev in self._booking(ctx, r, text, toks, dates, guests, yes_no(toks)):
                    yield ev
                return
        st.stage = "modify_code"
        for ev in r.say(self._ask(st, "I can help you change your booking. What's your confirmation code?")):
            yield ev

    async def _modify_lookup(self, ctx: CallContext, r: _Reply, code: str) -> AsyncIterator[BrainEvent]:
        args = {"confirmation_code": code}
        res, err = await ctx.run_tool("find_reservation", args)
        yield _tool_event("find_reservation", args, res, err)
        if res is None:
            ctx.state.stage = "modify_code"
            async for ev in self._failed(ctx, r, "I couldn't find a booking with that code."):
                yield ev
            return
        found = res.data["reservations"][0]
        mine = _same_line(ctx.caller_number, str(found["phone"]))
        async for ev in self._modify_found(ctx, r, found, by_caller_id=mine):
            yield ev

    async def _modify_found(
        self, ctx: CallContext, r: _Reply, found: dict[str, Any], *, by_caller_id: bool
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        d = st.modify
        d.code, d.booking, d.by_caller_id = str(found["confirmation_code"]), found, by_caller_id
        d.booking_type = next((t["code"] for t in st.room_types if t["name"] == found["room_type"]), None)
        st.failures = 0
        problem = ""
        if found["status"] != "confirmed":
            problem = "That booking is cancelled, so there's nothing to change."
        elif date.fromisoformat(found["check_out"]) <= ctx.today():
            problem = "That stay is already over, so it can't be changed."
        if problem:
            st.modify = ModifyDraft()
            st.stage = "anything_else"
            for ev in r.say(f"{problem} " + self._ask(st, "Is there anything else I can help with?")):
                yield ev
            return
        if not by_caller_id:
            st.stage = "modify_verify"
            for ev in r.say(self._ask(st, "For your security, what's the name on the booking?")):
                yield ev
            return
        async for ev in self._modify_begin(ctx, r):
            yield ev

    async def _modify_begin(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        """The booking is identified: act on what the caller already asked for, or ask what to change."""
        st = ctx.state
        d = st.modify
        pending, d.pending = d.pending, ""
        if pending:
            before = replace(d)
            changed, error = self._modify_changes(ctx, pending, tokenize(pending))
            if error:
                st.stage = "modify_what"
                for ev in r.say(error):
                    yield ev
                st.last_prompt = split_sentences(error)[-1]
                return
            if changed:
                async for ev in self._modify_preview(ctx, r, before):
                    yield ev
                return
        b = d.booking
        assert b is not None
        st.stage = "modify_what"
        for ev in r.say(
            f"I have booking {spoken_code(str(b['confirmation_code']))}, the {b['room_type']} from "
            f"{short_date(date.fromisoformat(b['check_in']))} to {short_date(date.fromisoformat(b['check_out']))} "
            f"for {_guests_phrase(int(b['adults']), int(b['children']))}. "
            + self._ask(st, "What would you like to change: the dates, the number of guests, or the room?")
        ):
            yield ev

    async def _modify_stage(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok], yn: bool | None
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        d = st.modify
        if st.stage == "modify_code":
            code = parse_code(text, toks, expecting=True)
            if code:
                async for ev in self._modify_lookup(ctx, r, code):
                    yield ev
                return
            async for ev in self._failed(ctx, r):
                yield ev
            return
        if st.stage == "modify_verify":
            name = parse_name(text, expecting=True)
            if name is None or d.booking is None:
                async for ev in self._failed(ctx, r):
                    yield ev
                return
            st.failures = 0
            if not name_matches(name, str(d.booking["guest_name"])):
                st.modify = ModifyDraft()
                st.stage = "modify_desk"
                for ev in r.say(
                    "I'm sorry, that name doesn't match the booking, so I can't change it from this phone. "
                    + self._ask(st, "Would you like me to connect you with our reservations team?")
                ):
                    yield ev
                return
            d.name = name
            async for ev in self._modify_begin(ctx, r):
                yield ev
            return
        before = replace(d)
        correcting = st.stage == "modify_confirm" and yn is False
        changed, error = self._modify_changes(ctx, text, toks, correcting=correcting)
        if error:
            st.failures = 0
            for ev in r.say(error):
                yield ev
            st.last_prompt = split_sentences(error)[-1]
            return
        if changed:
            st.failures = 0
            async for ev in self._modify_preview(ctx, r, before):
                yield ev
            return
        if st.stage == "modify_confirm" and yn is not None:
            st.failures = 0
            if yn:
                async for ev in self._modify_apply(ctx, r):
                    yield ev
                return
            st.modify = ModifyDraft()
            st.stage = "anything_else"
            for ev in r.say(
                "Okay, I've left your booking as it is. "
                + self._ask(st, "Is there anything else I can help you with?")
            ):
                yield ev
            return
        if st.stage == "modify_alt" and yn is not None:
            st.failures = 0
            alt = d.alternative
            if yn and alt is not None:
                d.check_in = date.fromisoformat(alt["check_in"])
                d.check_out = date.fromisoformat(alt["check_out"])
                d.room_type = str(alt["room_type"])
                d.alternative = None
                d.last_date = "move"
                async for ev in self._modify_preview(ctx, r, before):
                    yield ev
                return
            st.stage = "modify_desk"
            for ev in r.say(self._ask(st, "Would you like me to connect you with our reservations team?")):
                yield ev
            return
        if st.stage == "modify_desk" and yn is not None:
            st.failures = 0
            st.modify = ModifyDraft()
            if yn:
                st.stage = "idle"
                for ev in r.say("Connecting you with our reservations team now."):
                    yield ev
                async for ev in self._run_transfer(ctx, "reservations"):
                    yield ev
                return
            st.stage = "anything_else"
            for ev in r.say(
                "Okay, your booking stays as it is. "
                + self._ask(st, "Is there anything else I can help you with?")
            ):
                yield ev
            return
        if st.stage == "modify_what":
            padded = words_of(toks)
            q = ""
            if has_any(padded, ("date", "dates", "day", "days")):
                q = "What are the new dates?"
            elif has_any(padded, ("guests", "guest", "people", "number of guests", "adults", "children")):
                q = "How many adults and children will there be?"
            elif has_any(padded, ("room", "room type", "rooms")):
                q = f"Which room would you like: {', '.join('the ' + t['name'] for t in st.room_types)}?"
            if q:
                st.failures = 0
                for ev in r.say(self._ask(st, q)):
                    yield ev
                return
        async for ev in self._failed(ctx, r):
            yield ev

    def _modify_now(self, d: ModifyDraft) -> tuple[date, date, int, int, bool, str | None]:
        """The stay as it would be with the changes asked for so far."""
        b = d.booking
        assert b is not None
        return (
            d.check_in or date.fromisoformat(b["check_in"]),
            d.check_out or date.fromisoformat(b["check_out"]),
            d.adults if d.adults is not None else int(b["adults"]),
            d.children if d.children is not None else int(b["children"]),
            d.pets if d.pets is not None else bool(b["pets"]),
            d.room_type or d.booking_type,
        )

    def _modify_changes(
        self, ctx: CallContext, text: str, toks: list[Tok], *, correcting: bool = False
    ) -> tuple[bool, str | None]:
        """Apply what this utterance changes to the draft. "One more night" adds to the departure as
        it stands now; a correction ("no, the sixth", or any "no, …" at the read-back) redoes the last
        date change with the new value, from the stay as it was before that change."""
        st = ctx.state
        d = st.modify
        if d.booking is None:
            return False, None
        today = ctx.today()
        old = self._modify_now(d)
        ci_now, co_now, adults, children, pets, room = old
        shift = parse_stay_shift(toks)
        dates = parse_dates(text, toks, today, ci_now)
        if dates.error:
            return False, f"Sorry, {dates.error}. Which date did you mean?"
        if dates.check_out and not dates.check_in and _moves_whole_stay(toks):
            # "move my reservation to the 12th": "to" names where the stay goes, not a departure
            dates.single, dates.check_out = dates.check_out, None
        bare_correction = (
            dates.single is not None and not (dates.check_in or dates.check_out) and shift is None
        )
        use_base = (
            d.date_base is not None
            and bool(d.last_date)
            and (shift is not None or dates.any)
            and (correcting or bare_correction)
        )
        ci0, co0 = d.date_base if use_base and d.date_base else (ci_now, co_now)
        nights0 = (co0 - ci0).days
        ci, co, last = ci0, co0, d.last_date
        bare_day = dates.single_is_bare_day
        if shift is not None:
            step = timedelta(days=shift.days)
            if shift.end == "out":
                co, last = co0 + step, "out"
            elif shift.end == "in":
                ci, last = ci0 + step, "in"
            else:
                ci, co, last = ci0 + step, co0 + step, "move"
        elif dates.check_in and dates.check_out:
            ci, co, last = dates.check_in, dates.check_out, "range"
        elif dates.check_in:
            ci = _same_month_after(ci0, dates.check_in.day, today) if bare_day else dates.check_in
            if co0 <= ci:
                co = ci + timedelta(days=nights0)  # arriving after the old departure keeps the length
            last = "in"
        elif dates.check_out:
            co, last = dates.check_out, "out"
        elif dates.single is not None:
            target = last or "move"
            day = dates.single.day
            value = dates.single
            if bare_day:
                value = _day_after(ci0, day) if target == "out" else _same_month_after(ci0, day, today)
            if target == "out" or (target == "range" and value > ci0):
                co = value
            elif target in ("in", "range"):
                ci = value
                if co0 <= ci:
                    co = ci + timedelta(days=nights0)
            else:
                ci, co = value, value + timedelta(days=nights0)
            last = target
        if dates.nights and shift is None and not dates.check_out:
            co, last = ci + timedelta(days=dates.nights), "out"
        delta = parse_guest_delta(toks)
        if delta is not None:
            adults += delta.adults or 0
            children = max(0, children + (delta.children or 0))
        else:
            guests = parse_guests(toks)
            adults = guests.adults if guests.adults is not None else adults
            children = guests.children if guests.children is not None else children
        if adults < 1:
            return False, "At least one adult needs to be staying. How many adults will there be?"
        said_pets = parse_pets(toks)
        pets = said_pets if said_pets is not None else pets
        room = self._mentioned_type(st, toks) or room
        new = (ci, co, adults, children, pets, room)
        if new == old:
            return False, None
        b = d.booking
        d.check_in = ci if ci.isoformat() != b["check_in"] else None
        d.check_out = co if co.isoformat() != b["check_out"] else None
        d.adults = adults if adults != int(b["adults"]) else None
        d.children = children if children != int(b["children"]) else None
        d.pets = pets if pets != bool(b["pets"]) else None
        d.room_type = room if room != d.booking_type else None
        if (ci, co) != (ci_now, co_now):
            if not use_base:
                d.date_base = (ci_now, co_now)
            d.last_date = last
        return True, None

    def _modify_args(self, ctx: CallContext, *, preview: bool) -> dict[str, Any] | None:
        """Identity plus only the values that differ from the booking; None when nothing does."""
        d = ctx.state.modify
        b = d.booking
        assert b is not None and d.code
        ci, co, adults, children, pets, room = self._modify_now(d)
        changes: dict[str, Any] = {}
        if ci.isoformat() != b["check_in"]:
            changes["check_in"] = ci.isoformat()
        if co.isoformat() != b["check_out"]:
            changes["check_out"] = co.isoformat()
        if adults != int(b["adults"]):
            changes["adults"] = adults
        if children != int(b["children"]):
            changes["children"] = children
        if pets != bool(b["pets"]):
            changes["pets"] = pets
        if room and room != d.booking_type:
            changes["room_type"] = room
        if not changes:
            return None
        args: dict[str, Any] = {"confirmation_code": d.code, **changes}
        if not d.by_caller_id and d.name:
            args["guest_name"] = d.name
        if preview:
            args["preview"] = True
        return args

    async def _modify_preview(
        self, ctx: CallContext, r: _Reply, before: ModifyDraft
    ) -> AsyncIterator[BrainEvent]:
        """Price the change without making it and read it back with the difference."""
        st = ctx.state
        args = self._modify_args(ctx, preview=True)
        if args is None:
            st.stage = "modify_what"
            for ev in r.say(
                "That's how your booking is already. " + self._ask(st, "What would you like to change?")
            ):
                yield ev
            return
        res, err = await ctx.run_tool("modify_reservation", args)
        yield _tool_event("modify_reservation", args, res, err)
        if res is None:
            async for ev in self._modify_problem(ctx, r, err, before):
                yield ev
            return
        cur = ctx.settings.hotel.currency
        a = res.data["after"]
        diff = Decimal(res.data["difference"])
        if diff > 0:
            change = f"{spoken_money(diff, cur)} more than before"
        elif diff < 0:
            change = f"{spoken_money(-diff, cur)} less than before"
        else:
            change = "the same as before"
        nights = int(a["nights"])
        st.stage = "modify_confirm"
        for ev in r.say(
            f"So that's the {a['room_type_name']}, checking in {short_date(date.fromisoformat(a['check_in']))} "
            f"and checking out {short_date(date.fromisoformat(a['check_out']))}, {nights} "
            f"night{'s' if nights != 1 else ''} for {_guests_phrase(int(a['adults']), int(a['children']))}"
            f"{', with your pet' if a['pets'] else ''}. The new total is "
            f"{spoken_money(Decimal(a['total']), cur)}, {change}. "
            + self._ask(st, "Shall I make the change?")
        ):
            yield ev

    async def _modify_apply(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        args = self._modify_args(ctx, preview=False)
        if args is None:
            st.stage = "modify_what"
            for ev in r.say(self._ask(st, "What would you like to change?")):
                yield ev
            return
        res, err = await ctx.run_tool("modify_reservation", args)
        yield _tool_event("modify_reservation", args, res, err)
        if res is None:
            async for ev in self._modify_problem(ctx, r, err, None):
                yield ev
            return
        a = res.data["after"]
        cur = ctx.settings.hotel.currency
        sent = " I've sent you a text with the details." if res.data.get("message_id") else ""
        st.modify = ModifyDraft()
        st.stage = "anything_else"
        for ev in r.say(
            f"Done. Booking {spoken_code(str(res.data['confirmation_code']))} is now the {a['room_type_name']} from "
            f"{short_date(date.fromisoformat(a['check_in']))} to {short_date(date.fromisoformat(a['check_out']))} "
            f"for {_guests_phrase(int(a['adults']), int(a['children']))}, "
            f"{spoken_money(Decimal(a['total']), cur)} in total.{sent} "
            + self._ask(st, "Is there anything else I can help you with?")
        ):
            yield ev

    async def _modify_problem(
        self, ctx: CallContext, r: _Reply, err: ToolError | None, before: ModifyDraft | None
    ) -> AsyncIterator[BrainEvent]:
        """Say why not; then offer the tool's alternative, ask again, or offer the reservations desk."""
        st = ctx.state
        msg = err.message if err else "Sorry, something went wrong."
        alt = err.data.get("alternative") if err else None
        cur = ctx.settings.hotel.currency
        if isinstance(alt, dict):
            st.modify.alternative = alt  # the draft stays: the offer completes what was asked
            st.stage = "modify_alt"
            when = (
                f"from {short_date(date.fromisoformat(alt['check_in']))} to "
                f"{short_date(date.fromisoformat(alt['check_out']))}, at "
                f"{spoken_money(Decimal(alt['total']), cur)} in total"
            )
            offer = (
                f"The nearest I have is the {alt['name']} {when}."
                if alt.get("kind") == "dates"
                else f"The {alt['name']} is free {when}."
            )
            for ev in r.say(f"{msg} {offer} " + self._ask(st, "Would you like that instead?")):
                yield ev
            return
        if before is not None:
            st.modify = before  # a change that can't be made is forgotten, not half kept
        if err is not None and err.fault == "caller" and not isinstance(err, NotAvailable | NotFound):
            st.stage = "modify_what"
            for ev in r.say(
                f"{msg} Your booking is unchanged. " + self._ask(st, "What would you like to change?")
            ):
                yield ev
            return
        st.stage = "modify_desk"
        for ev in r.say(
            f"{msg} " + self._ask(st, "Would you like me to connect you with our reservations team?")
        ):
            yield ev

    # ------------------------------------------------------------------ callbacks

    async def _callback_start(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok]
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        st.failures = 0
        st.callback_when = parse_callback_time(text, toks, ctx.now())
        async for ev in self._callback_next(ctx, r):
            yield ev

    async def _callback_next(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        if st.callback_when is None:
            st.stage = "callback_when"
            for ev in r.say(self._ask(st, "Of course. When would be a good time for us to call you back?")):
                yield ev
            return
        if not st.phone:
            if sum(c.isdigit() for c in ctx.caller_number) >= 7:
                st.stage = "callback_phone"
                q = f"Shall we call you on the number you're calling from, ending in {_last4(ctx.caller_number)}?"
            else:
                st.stage = "callback_number"
                q = "What number should we call you on?"
            for ev in r.say(self._ask(st, q)):
                yield ev
            return
        args = {
            "phone": st.phone,
            "when": st.callback_when.isoformat(),
            "reason": "Caller asked for a call back",
        }
        res, err = await ctx.run_tool("schedule_callback", args)
        yield _tool_event("schedule_callback", args, res, err)
        if res is None:
            st.callback_when = None
            st.stage = "callback_when"
            for ev in r.say(
                f"{err.message if err else 'Sorry.'} " + self._ask(st, "What time would suit you?")
            ):
                yield ev
            return
        st.stage = "anything_else"
        st.callback_when = None
        for ev in r.say(f"{res.summary} " + self._ask(st, "Is there anything else I can help with?")):
            yield ev

    async def _callback_stage(
        self, ctx: CallContext, r: _Reply, text: str, toks: list[Tok], yn: bool | None
    ) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        progressed = False
        if st.stage == "callback_when":
            when = parse_callback_time(text, toks, ctx.now())
            if when is not None:
                st.callback_when, progressed = when, True
        elif st.stage == "callback_phone":
            phone = parse_phone(toks)
            if phone or yn is True:
                st.phone, progressed = phone or ctx.caller_number, True
            elif yn is False:
                st.stage = "callback_number"
                st.failures = 0
                for ev in r.say(self._ask(st, "What number should we call you on?")):
                    yield ev
                return
        elif st.stage == "callback_number":
            phone = parse_phone(toks)
            if phone:
                st.phone, progressed = phone, True
        if not progressed:
            async for ev in self._failed(ctx, r):
                yield ev
            return
        st.failures = 0
        async for ev in self._callback_next(ctx, r):
            yield ev


# Words that can only mean an existing booking; weaker cues ("instead", "two more nights") may be a new one.
EXPLICIT_MODIFY = (
    "my booking", "my reservation", "our booking", "our reservation", "the booking", "the reservation",
    "change booking", "change reservation", "modify", "reschedule", "move my", "move our", "update my",
    "change my", "change our",
)  # fmt: skip
_MOVE_WORDS = frozenset(
    {"move", "moving", "reschedule", "postpone", "push", "shift", "switch", "change", "bring"}
)
_DEPART_WORDS = frozenset(
    {"leave", "leaving", "out", "checkout", "depart", "departing", "until", "till", "stay"}
)


def _moves_whole_stay(toks: list[Tok]) -> bool:
    words = {t.word for t in toks}
    return bool(words & _MOVE_WORDS) and not words & _DEPART_WORDS


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
