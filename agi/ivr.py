"""The IVR engine executed over FastAGI: the same menus as ARI calls, with Asterisk's own commands.

Mapping of engine actions: ``Play`` → ``STREAM FILE <sound> "<keys>"`` (a key cuts it, like a digit
cuts our RTP prompt); the menu timer → ``WAIT FOR DIGIT <ms>``; the inter-digit timer of a typed
room number → ``GET DATA silence/1 <ms> <digits left>`` (Asterisk collects the rest and ends on
``#``, the digit count or the pause); ``Transfer`` → ``EXEC Dial Local/<ext>@<context>``;
``StartAgent`` → ``EXEC Stasis <app>`` (the AI agent lives in the ARI app); ``SetVariable`` →
``SET VARIABLE``; ``Hangup`` → ``HANGUP``. Playback stop and timer cancel need no command: AGI
commands are sequential, so nothing is left running.

Text-only prompts have no Asterisk sound; they are skipped with a log line (give prompts a
``sound`` for AGI use).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from agi.protocol import AgiHangup
from agi.server import ESCAPE_ALL, AgiChannel
from ari_app.ivr.config import Prompt
from ari_app.ivr.engine import (
    Action,
    CallerHangup,
    CancelTimer,
    Digit,
    Event,
    Hangup,
    IvrEngine,
    Outcome,
    Play,
    PromptFinished,
    SetLanguage,
    SetVariable,
    StartAgent,
    StartTimer,
    State,
    StopPlayback,
    Timeout,
    Transfer,
)

log = logging.getLogger(__name__)

COLLECT_SOUND = "silence/1"
ARMED = -1  # Timeout placeholder: "the timer armed when this event is applied"


class AgiIvrExecutor:
    def __init__(
        self,
        channel: AgiChannel,
        engine: IvrEngine,
        *,
        stasis_app: str = "hotel-operator",
        default_context: str = "from-internal",
        dial_timeout_s: int = 30,
        sound_for: Callable[[Prompt], str | None] | None = None,
    ) -> None:
        self.ch = channel
        self.engine = engine
        self.stasis_app = stasis_app
        self.default_context = default_context
        self.dial_timeout_s = dial_timeout_s
        self.sound_for = sound_for or (lambda p: p.sound)

    async def run(self, *, answer: bool = True) -> Outcome:
        try:
            if answer:
                await self.ch.answer()
            pending: deque[Action] = deque(self.engine.start())
            while pending:
                action = pending.popleft()
                events = await self._execute(action)
                for i, event in enumerate(events):
                    if isinstance(event, Timeout) and event.timer_id == ARMED:
                        # The pause after digits Asterisk collected: it ends whatever timer the
                        # engine armed after the last of them (none: the digits ended input).
                        if self.engine.timer_armed is None:
                            continue
                        event = Timeout(self.engine.timer_armed)
                    produced = self.engine.handle(event)
                    if i < len(events) - 1:
                        # Digits Asterisk already collected in one GET DATA: the timers re-armed
                        # between them are moot, only the last event's actions run.
                        produced = [a for a in produced if not isinstance(a, StartTimer | CancelTimer)]
                    pending.extend(produced)
        except AgiHangup:
            if self.engine.state is not State.DONE:
                self.engine.handle(CallerHangup())
        outcome = self.engine.outcome
        assert outcome is not None, "the IVR stopped without an outcome"
        return outcome

    async def _execute(self, action: Action) -> list[Event]:
        if isinstance(action, Play):
            sound = self.sound_for(action.prompt)
            if sound is None:
                log.warning("IVR menu %s: prompt %r has no sound for AGI; skipped", action.menu, action.prompt.text)
                return [PromptFinished()]
            keys = "" if self.engine.state is State.CLOSING else ESCAPE_ALL
            digit = await self.ch.stream_file(sound, keys)
            return [Digit(digit)] if digit else [PromptFinished()]
        if isinstance(action, StartTimer):
            ms = max(1, int(action.seconds * 1000))
            if self.engine.state is State.COLLECTING:
                dd = self.engine.menu.direct_dial
                assert dd is not None
                left = dd.max_digits - len(self.engine.buffer)
                digits, timed_out = await self.ch.get_data(COLLECT_SOUND, ms, left)
                events: list[Event] = [Digit(d) for d in digits]
                if timed_out:
                    events.append(Timeout(ARMED))
                elif len(digits) < left:
                    events.append(Digit("#"))
                return events
            digit = await self.ch.wait_for_digit(ms)
            return [Digit(digit)] if digit else [Timeout(action.timer_id)]
        if isinstance(action, Transfer):
            context = action.context or self.default_context
            await self.ch.exec("Dial", f"Local/{action.extension}@{context},{self.dial_timeout_s}")
            return []
        if isinstance(action, StartAgent):
            await self.ch.exec("Stasis", self.stasis_app)
            return []
        if isinstance(action, Hangup):
            await self.ch.hangup()
            return []
        if isinstance(action, SetVariable):
            await self.ch.set_variable(action.name, action.value)
            return []
        if isinstance(action, SetLanguage):
            # Asterisk then plays sound prompts from that language's folder, and the ARI agent
            # the call may go on to reads the channel's language
            await self.ch.set_variable("CHANNEL(language)", action.language)
            return []
        if isinstance(action, StopPlayback | CancelTimer):
            return []
        raise AssertionError(f"unhandled IVR action {action!r}")
