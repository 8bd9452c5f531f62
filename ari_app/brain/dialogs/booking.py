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
    apply_spelling,
    has_any,
    parse_email,
    parse_name,
    parse_pets,
    parse_phone,
    parse_rooms,
    spelled_letters,
    spelled_name,
    words_of,
)
from ari_app.brain.sentences import split_sentences
from ari_app.tools.errors import NotAvailable
from ari_app.tools.hotel import short_date, spoken_code, spoken_money


def month_day(d: date) -> str:
    """ "December 4th": the short form for offers, where the weekday only makes the reply longer."""
    day = d.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{d:%B} {day}{suffix}"


_CONTEST_WORDS = frozenset({"it's", "its", "name", "spell", "spelled", "spelt", "spelling", "wrong", "not"})


def _contests_name(toks: list[Tok]) -> bool:
    """"No, it's …", "no, my name is …", "that's not my name": the caller turns down the name read back."""
    words = [t.word for t in toks]
    return bool(set(words) & _CONTEST_WORDS) and len(words) > 1


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
        source = st.date_source
        corrected = False
        stay_known = ci is not None and co is not None and st.stage not in ("ask_dates", "ask_checkout")
        if dates.replaces is not None and single is not None and ci is not None:
            # "no, not the fourth, the fifth": change the date that was the fourth, keep the other
            old, bare = dates.replaces, dates.replaces_is_bare_day
            new = single
            nights = (co - ci).days if co else None
            if (old.day == ci.day) if bare else (old == ci):
                ci = _same_month_after(ci, new.day, today) if dates.single_is_bare_day else new
                if source != "range" or co is None or co <= ci:
                    co = ci + timedelta(days=nights) if nights else co  # an arrival + length keeps the length
                corrected = True
            elif co is not None and ((old.day == co.day) if bare else (old == co)):
                co = _day_after(ci, new.day) if dates.single_is_bare_day else new
                corrected = True
            single = None if corrected else single
        if single is not None and stay_known and source == "in" and not dates.nights:
            # the caller gave an arrival and a length: a bare "no, the fifth" moves the arrival
            assert ci is not None and co is not None
            nights = (co - ci).days
            ci = _same_month_after(ci, single.day, today) if dates.single_is_bare_day else single
            co = ci + timedelta(days=nights)
            single, corrected = None, True
        if single is not None and dates.single_is_bare_day and ci is not None and st.stage != "ask_dates":
            single = (
                _same_month_after(ci, single.day, today)
                if st.stage != "ask_checkout"
                else _day_after(ci, single.day)
            )
        if corrected:
            pass
        elif dates.check_in or dates.check_out:
            ci = dates.check_in or ci
            co = dates.check_out or co
            if dates.check_out:
                source = "range"
            if dates.check_in and not dates.check_out and ci is not None and co is not None and co <= ci:
                # a new arrival after the old departure keeps the length of stay
                old_nights = (st.check_out - st.check_in).days if st.check_out and st.check_in else None
                co = ci + timedelta(days=old_nights) if old_nights else None
        elif single is not None:
            if st.stage == "ask_checkout" and ci is not None:
                co, source = single, "range"
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
                source = "in"
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
        rooms = parse_rooms(toks) or st.rooms
        if rooms > 1 and adults is not None and rooms > adults:
            return False, (
                f"Each room needs an adult staying in it, so {rooms} rooms need at least {rooms} adults. "
                "How many adults will there be?"
            )
        if guests.any:
            if adults is not None and adults < 1:
                return False, "At least one adult needs to be staying. How many adults will there be?"
            if adults is not None and adults + children > hotel.max_guests_per_booking:
                return False, (
                    f"I can book up to {hotel.max_guests_per_booking} guests in one reservation. For a larger group, "
                    "our reservations team can help; just say reservations. How many guests should I book for?"
                )
        pets = parse_pets(toks)
        changed = (ci, co, adults, children, rooms) != (
            st.check_in,
            st.check_out,
            st.adults,
            st.children,
            st.rooms,
        )
        changed = changed or (pets is not None and pets != st.pets)
        st.check_in, st.check_out, st.adults, st.children, st.rooms = ci, co, adults, children, rooms
        st.date_source = source
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
        if name and st.guest_name and len(name.split()) < len(st.guest_name.split()):
            name = apply_spelling(st.guest_name, name.lower())  # "no, it's Anna": one word put right
        if name and name != st.guest_name:
            st.guest_name = name
            st.name_spelled = spelled_letters(text) is not None
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
        *,
        fresh: bool = False,
    ) -> AsyncIterator[BrainEvent]:
        """One booking turn. ``fresh``: this turn asked for the booking, so a request with no dates
        yet ("I'd like to book a room") is understood and the dates are simply asked for."""
        st = ctx.state
        await self._room_types(ctx)
        stage = st.stage
        stay_before = self._stay(st)
        name_before = st.guest_name
        changed, error = self._apply(ctx, text, toks, dates, guests)
        if error:
            st.failures = 0
            for ev in r.say(error):
                yield ev
            st.last_prompt = split_sentences(error)[-1]
            return
        stay_changed = self._stay(st) != stay_before
        name_changed = st.guest_name != name_before
        understood = changed or fresh
        letters = spelled_letters(text) if st.guest_name and not name_changed else None
        whole = spelled_name(text) if st.guest_name else None
        if whole and stage in ("ask_phone", "ask_phone_number", "confirm") and len(whole.split()) >= 2:
            # the whole name spelled out, after we read it back wrong: take it as spelled
            st.guest_name, st.name_spelled, name_changed, changed, understood = whole, True, True, True, True
            letters = None
        if letters and stage in ("ask_phone", "ask_phone_number", "confirm") and not parse_phone(toks):
            # the caller spells the name we read back: "no, A N N A"
            spelled = apply_spelling(st.guest_name or "", letters)
            if spelled != st.guest_name:
                st.guest_name = spelled
                st.name_spelled, name_changed, changed, understood = True, True, True, True
        read_back = stage in ("ask_phone", "ask_phone_number", "confirm") and name_before and not st.name_unsure
        if read_back and name_changed:
            st.name_tries += 1
            st.names_heard.append(name_before or "")
        elif read_back and not changed and yn is False and _contests_name(toks) and not parse_phone(toks):
            # "no, it's …" with nothing we could read as a name or a spelling
            st.name_tries += 1
            st.failures = 0
            if st.name_tries < 2:
                for ev in r.say(self._ask(st, "Sorry, I didn't catch that. Could you spell your name for me, letter by letter?")):
                    yield ev
                return
            # asked twice and still not understood: a front-desk person would note what they have and
            # check it afterwards rather than keep the caller spelling; the desk gets a note to do so
            st.name_unsure, st.name_spelled = True, True
            st.names_heard.append(st.guest_name or "")
            for ev in r.say(
                f"I'm sorry, I'm having trouble with the spelling on this line. I'll book it under "
                f"{st.guest_name} for now, and our front desk will confirm the spelling with you."
            ):
                yield ev
            async for ev in self._advance(ctx, r):
                yield ev
            return
        if st.name_tries >= 3 and not st.name_unsure:
            st.name_unsure = True  # turned down three times: whatever we read back now, the desk checks it
        if (
            stage == "offer"
            and not stay_changed
            and st.total is None
            and st.options
            and st.alternative is None
        ):
            if not name_changed and yn is None and self._pick_option(st, toks, None) is None:
                name = parse_name(text, expecting=True)
                if name and 2 <= len(name.split()) <= 3:
                    st.guest_name, st.name_spelled, name_changed = (
                        name,
                        spelled_letters(text) is not None,
                        True,
                    )
            more = has_any(
                words_of(toks), ("other", "others", "more", "what else", "anything else", "options")
            )
            if yn is True and len(st.options) > 1 and not name_changed and not more:
                st.yes_to_list += 1
                if st.yes_to_list >= 2 and self._pick_option(st, toks, None) is None:
                    # "yes" twice to "which room": the first one named; the read-back still asks
                    first = st.options[0]
                    st.room_type, st.total = first["room_type"], Decimal(first["total"])
                    for ev in r.say(f"I'll note the {first['name']}."):
                        yield ev
                    async for ev in self._advance(ctx, r):
                        yield ev
                    return
            if name_changed or (yn is True and len(st.options) > 1) or (more and len(st.options) > st.listed):
                if self._pick_option(st, toks, None) is None:
                    # a name, a bare "yes" or "what else" while the room is still open: ask for the room only
                    st.failures = 0
                    lead = f"Thank you, {(st.guest_name or '').split()[0]}. " if name_changed else ""
                    for ev in r.say(lead + self._which_room(ctx, more=more and not name_changed)):
                        yield ev
                    return
                changed = True
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
            # spelled letters ("A N N, L E E") are the whole name; letter names alone ("Jay Kay") are a name
            whole = spelled_name(text) if spelled_letters(text) else None
            name = whole or parse_name(text, expecting=True)
            if name:
                st.guest_name, st.name_spelled = name, whole is not None
                understood = True
        elif stage in ("ask_phone", "ask_phone_number") and name_changed:
            understood = True  # the name was put right: read it back with the phone question again
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

    @staticmethod
    def _stay(st: DialogState) -> tuple[Any, ...]:
        return (st.check_in, st.check_out, st.adults, st.children, st.pets, st.rooms)

    def _which_room(self, ctx: CallContext, *, more: bool = False) -> str:
        """The short room question: two or three options by name and price, the rest on request."""
        st = ctx.state
        cur = ctx.settings.hotel.currency
        start = st.listed if more and st.listed < len(st.options) else 0
        shown = st.options[start : start + (3 if more else 2)]
        st.listed = max(st.listed, start + len(shown))
        names = [f"the {o['name']} at {spoken_money(Decimal(o['total']), cur)}" for o in shown]
        text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])}, or {names[-1]}"
        rest = len(st.options) - st.listed
        tail = f", and {rest} more type{'s' if rest != 1 else ''}" if rest > 0 else ""
        q = self._ask(st, "Which would you like?")
        return f"{'I also have' if more else 'I have'} {text}, in total{tail}. {q}"

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
            thanks = "" if st.name_unsure else f"Thank you, {st.guest_name.split()[0]}. " + self._spelling(st)
            if sum(c.isdigit() for c in ctx.caller_number) >= 7:
                st.stage = "ask_phone"
                q = (
                    f"Shall I use the number you're calling from, ending in {_last4(ctx.caller_number)}, "
                    "for your confirmation text?"
                )
            else:
                st.stage = "ask_phone_number"
                q = "What phone number should we use for the booking?"
            for ev in r.say(thanks + q):
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
        what = f"{st.rooms} rooms, the {name}," if st.rooms > 1 else f"the {name}"
        who = f"{st.guest_name} (our front desk will confirm the spelling)" if st.name_unsure else st.guest_name
        q = (
            f"To confirm: {what} for {who}, checking in {short_date(st.check_in)} and checking out "
            f"{short_date(st.check_out)}, {nights} night{'s' if nights != 1 else ''}, for "
            f"{_guests_phrase(st.adults, st.children)}{pets}. The total is {total}. Shall I book it?"
        )
        for ev in r.say(q):
            yield ev
        st.last_prompt = "Shall I book it?"

    async def _desk_checks_name(
        self, ctx: CallContext, code: str, booking: dict[str, Any]
    ) -> AsyncIterator[BrainEvent]:
        """A note for the front desk (a lead, the team's follow-up list) to confirm the guest's name:
        the booking holds the room under the name as heard, and says so, rather than claim it right."""
        st = ctx.state
        heard = ", ".join(f"'{n}'" for n in dict.fromkeys(st.names_heard) if n)
        args: dict[str, Any] = {
            "name": st.guest_name or "",
            "interest": f"Confirm the spelling of the guest's name on booking {code}: booked as "
            f"'{st.guest_name}'; the caller said the name as heard was wrong ({heard}).",
            "check_in": booking.get("check_in"),
            "check_out": booking.get("check_out"),
            "adults": booking.get("adults"),
        }
        if booking.get("phone"):
            args["phone"] = booking["phone"]
        res, err = await ctx.run_tool("create_lead", args)
        yield _tool_event("create_lead", args, res, err)

    @staticmethod
    def _spelling(st: DialogState) -> str:
        """Names are booked as heard, so read the spelling back unless the caller spelled it."""
        if st.name_spelled or not st.guest_name:
            return ""
        spelled = ", ".join(" ".join(c.upper() for c in w if c.isalpha()) for w in st.guest_name.split())
        return f"I have {st.guest_name}, spelled {spelled}; if that's wrong, just spell it for me. "

    def _stay_args(self, st: DialogState) -> dict[str, Any]:
        assert st.check_in and st.check_out and st.adults
        args: dict[str, Any] = {
            "check_in": st.check_in.isoformat(),
            "check_out": st.check_out.isoformat(),
            "adults": st.adults,
            "children": st.children,
            "pets": st.pets,
        }
        if st.rooms > 1:
            args["rooms"] = st.rooms
        return args

    async def _offer(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        assert st.check_in and st.check_out and st.adults
        args = self._stay_args(st)
        res, err = await ctx.run_tool("check_availability", args)
        yield _tool_event("check_availability", args, res, err)
        cur = ctx.settings.hotel.currency
        need = int(err.data.get("rooms_needed", 0)) if err is not None else 0
        if res is None and need > st.rooms and need <= (st.adults or 0):
            # too many guests for one room: look for enough rooms at once instead of giving up
            st.rooms = need
            for ev in r.say(f"That's more guests than one room sleeps, so I've looked for {need} rooms."):
                yield ev
            args = self._stay_args(st)
            res, err = await ctx.run_tool("check_availability", args)
            yield _tool_event("check_availability", args, res, err)
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
        st.listed = 0
        nights = res.data["nights"]
        rooms = f"{st.rooms} rooms " if st.rooms > 1 else ""
        stay = (
            f"{month_day(st.check_in)} to {month_day(st.check_out)}, {nights} "
            f"night{'s' if nights != 1 else ''}, {rooms}for {_guests_phrase(st.adults, st.children)}."
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
        if len(opts) == 1:
            st.listed = 1
            q = "Would you like to book it?"
            text = f"{stay} I have the {opts[0]['name']} at {spoken_money(Decimal(opts[0]['total']), cur)} in total. {q}"
            st.last_prompt = q
        else:
            text = f"{stay} {self._which_room(ctx)}"
        for ev in r.say(text):
            yield ev

    async def _book(self, ctx: CallContext, r: _Reply) -> AsyncIterator[BrainEvent]:
        st = ctx.state
        assert st.check_in and st.check_out and st.adults and st.room_type and st.guest_name
        args: dict[str, Any] = {
            **self._stay_args(st),
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
        if st.name_unsure:
            async for ev in self._desk_checks_name(ctx, code, res.data):
                yield ev
            sent += " Our front desk will be in touch to confirm the spelling of your name."
        st.reset_booking()
        st.stage = "anything_else"
        for ev in r.say(
            f"You're all set. Your confirmation code is {spoken_code(code)}.{sent} "
            + self._ask(st, "Is there anything else I can help you with?")
        ):
            yield ev
