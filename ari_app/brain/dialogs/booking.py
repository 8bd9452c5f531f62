"""The booking flow: slots (dates, guests, pets, room type, name, phone) filled from whatever the
caller says, corrected in place at any point, read back in full before anything is booked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ari_app.brain.context import CallContext, DialogState
from ari_app.brain.dialogs.common import (
    DialogBase,
    _day_after,
    _guests_phrase,
    _last4,
    _Reply,
    _same_month_after,
    _tool_event,
)
from ari_app.brain.events import BrainEvent
from ari_app.brain.nlu import (
    DateSlots,
    Guests,
    Tok,
    has_any,
    parse_email,
    parse_name,
    parse_pets,
    parse_phone,
    words_of,
)
from ari_app.brain.sentences import split_sentences
from ari_app.tools.errors import NotAvailable
from ari_app.tools.hotel import short_date, spoken_code, spoken_money


class BookingDialog(DialogBase):
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
