"""The call-back flow: when, and on which number."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ari_app.brain.context import CallContext
from ari_app.brain.dialogs.common import (
    DialogBase,
    _last4,
    _Reply,
    _tool_event,
)
from ari_app.brain.events import BrainEvent
from ari_app.brain.nlu import (
    Tok,
    parse_callback_time,
    parse_phone,
)


class CallbackDialog(DialogBase):
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
