"""The change flow: identify the booking, take what should change, price it, read it back, apply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ari_app.brain.context import CallContext, ModifyDraft
from ari_app.brain.dialogs.common import (
    DialogBase,
    _day_after,
    _guests_phrase,
    _has_caller_id,
    _Reply,
    _same_line,
    _same_month_after,
    _tool_event,
)
from ari_app.brain.events import BrainEvent
from ari_app.brain.nlu import (
    Tok,
    has_any,
    parse_code,
    parse_dates,
    parse_guest_delta,
    parse_guests,
    parse_name,
    parse_pets,
    parse_phone,
    parse_stay_shift,
    phone_recount_variants,
    tokenize,
    words_of,
    yes_no,
)
from ari_app.brain.sentences import split_sentences
from ari_app.tools.errors import NotAvailable, NotFound, ToolError
from ari_app.tools.hotel import name_matches, short_date, spoken_code, spoken_money

# Words that can only mean an existing booking; weaker cues ("instead", "two more nights") may be a new one.
EXPLICIT_MODIFY = (
    "my booking", "my reservation", "our booking", "our reservation", "the booking", "the reservation",
    "change booking", "change reservation", "modify", "reschedule", "move my", "move our", "update my",
    "change my", "change our", "i booked", "we booked", "i've booked", "we've booked", "already booked",
    "i have a booking", "i have a reservation", "we have a booking", "we have a reservation", "i made a booking",
    "i made a reservation", "we made a booking", "we made a reservation", "extend my", "extend our",
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


class ChangeDialog(DialogBase):
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
        searched = False
        if _has_caller_id(ctx):
            searched = True
            event, found = await self._bookings_for_phone(ctx, ctx.caller_number, ongoing_only=True)
            yield event
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
        lead = (
            "I can't find a booking made from the number you're calling from. "
            if searched
            else "I can help you change your booking. "
        )
        for ev in r.say(
            lead
            + self._ask(
                st, "What's your confirmation code? Or tell me the phone number the booking was made with."
            )
        ):
            yield ev

    async def _modify_by_phone(self, ctx: CallContext, r: _Reply, phone: str) -> AsyncIterator[BrainEvent]:
        """Look the booking up by the number the caller says it was made with; the name is checked next."""
        st = ctx.state
        event, found = await self._bookings_for_phone(ctx, phone, ongoing_only=True)
        yield event
        if not found:
            # a digit said several times over, miscounted by the recogniser: the few numbers it may
            # have been (the name on the booking is still asked before anything is shown or changed)
            near: dict[str, dict[str, Any]] = {}
            for variant in phone_recount_variants(phone):
                event, hits = await self._bookings_for_phone(ctx, variant, ongoing_only=True)
                yield event
                near.update((str(x["confirmation_code"]), x) for x in hits)
            found = list(near.values())
            phone = found[0]["phone"] if found else phone
        if len(found) == 1:
            async for ev in self._modify_found(
                ctx, r, found[0], by_caller_id=_same_line(ctx.caller_number, phone)
            ):
                yield ev
            return
        if len(found) > 1:
            st.failures = 0
            for ev in r.say(
                f"I see {len(found)} bookings for that number. "
                + self._ask(st, "What's the confirmation code of the one you'd like to change?")
            ):
                yield ev
            return
        async for ev in self._failed(ctx, r, "I couldn't find a booking for that number either."):
            yield ev

    def _modify_lookup(self, ctx: CallContext, r: _Reply, code: str) -> AsyncIterator[BrainEvent]:
        return self._find_by_code(ctx, r, code, retry_stage="modify_code", found_step=self._modify_by_code)

    async def _modify_by_code(
        self, ctx: CallContext, r: _Reply, found: dict[str, Any]
    ) -> AsyncIterator[BrainEvent]:
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
            phone = parse_phone(toks)
            if phone:
                async for ev in self._modify_by_phone(ctx, r, phone):
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
