"""Hotel questions, transfers to a person and the goodbye: the short flows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from ari_app.brain.context import CallContext
from ari_app.brain.dialogs.common import (
    BOOKING_STAGES,
    CALLBACK_STAGES,
    CANCEL_STAGES,
    MODIFY_STAGES,
    DialogBase,
    _Reply,
    _tool_event,
)
from ari_app.brain.events import Action, BrainEvent
from ari_app.brain.nlu import (
    DEPARTMENT_WORDS,
    Tok,
    has_any,
    parse_pets,
    tokenize,
    words_of,
)


class InfoDialog(DialogBase):
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
