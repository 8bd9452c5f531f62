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

On a stock Asterisk the bundled menu's ``hotel/*`` sounds do not exist (issue 16 D2). ``STREAM FILE``
then answers ``result=-1``, as it does on a hang-up; :meth:`AgiChannel.stream_file` tells them apart
(``PLAYBACKSTATUS`` / ``511``) and raises :class:`AgiSoundMissing`. A missing menu prompt is replaced
by the menu's keys read out with ``SAY DIGITS`` (stock digit sounds, cut by a key like the prompt), a
missing other prompt is skipped; the call goes on either way and each missing sound is logged once.

A transfer is ``EXEC Dial``; Dial's own result does not say whether anyone answered, so the executor
reads ``DIALSTATUS`` after it. BUSY, CONGESTION, CHANUNAVAIL or NOANSWER ("Everyone is busy/
congested") is not a transfer: the caller is offered the front desk (the menu's operator) once, and if
that fails too the call ends with outcome ``transfer_failed`` and the status as its reason.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from agi.protocol import AgiHangup, AgiSoundMissing
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
DIAL_FAILED = frozenset({"BUSY", "CONGESTION", "CHANUNAVAIL", "NOANSWER"})
_missing_logged: set[str] = set()  # sounds already reported missing by this process


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
        self.missing: set[str] = set()  # sounds this call's Asterisk could not play
        self.dial_statuses: list[str] = []
        self._outcome: Outcome | None = None  # overrides the engine's when a transfer failed

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
        outcome = self._outcome or self.engine.outcome
        assert outcome is not None, "the IVR stopped without an outcome"
        return outcome

    async def _execute(self, action: Action) -> list[Event]:
        if isinstance(action, Play):
            sound = self.sound_for(action.prompt)
            if sound is None:
                log.warning("IVR menu %s: prompt %r has no sound for AGI; skipped", action.menu, action.prompt.text)
                return [PromptFinished()]
            keys = "" if self.engine.state is State.CLOSING else ESCAPE_ALL
            if sound not in self.missing:
                try:
                    digit = await self.ch.stream_file(sound, keys)
                    return [Digit(digit)] if digit else [PromptFinished()]
                except AgiSoundMissing:
                    self.missing.add(sound)
            return await self._without_sound(action, sound, keys)
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
            await self._transfer(action)
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

    async def _without_sound(self, action: Play, sound: str, keys: str) -> list[Event]:
        """A prompt whose sound Asterisk lacks: a menu's keys are read out as digits (stock sounds);
        anything else is skipped. Never a hang-up: the caller is still there."""
        menu = self.engine.tree.menus.get(action.menu)
        options = "".join(sorted(menu.options)) if menu is not None and action.prompt == menu.prompt else ""
        digits = "".join(d for d in options if d.isdigit())
        if sound not in _missing_logged:
            _missing_logged.add(sound)
            log.warning(
                "IVR menu %s: Asterisk cannot play sound %r (not installed?); %s",
                action.menu, sound, f"reading the menu keys {digits} instead" if digits else "prompt skipped",
            )
        if not digits:
            return [PromptFinished()]
        digit = await self.ch.say_digits(digits, keys)
        return [Digit(digit)] if digit else [PromptFinished()]

    async def _dial(self, extension: str, context: str) -> str:
        """``EXEC Dial`` then ``DIALSTATUS`` (Dial's own result does not say who answered)."""
        await self.ch.exec("Dial", f"Local/{extension}@{context},{self.dial_timeout_s}")
        status = (await self.ch.get_variable("DIALSTATUS") or "").upper()
        self.dial_statuses.append(status)
        return status

    async def _transfer(self, action: Transfer) -> None:
        context = action.context or self.default_context
        status = await self._dial(action.extension, context)
        if status not in DIAL_FAILED:
            return  # ANSWER (the call happened), CANCEL (the caller hung up), or nothing to go by
        menu = self.engine.outcome.menu if self.engine.outcome is not None else ""
        log.warning("IVR transfer to %s@%s failed: DIALSTATUS=%s", action.extension, context, status)
        desk = self.engine.tree.operator
        desk_ext = getattr(desk, "extension", None)
        desk_ctx = getattr(desk, "context", None) or self.default_context
        if desk_ext and (desk_ext, desk_ctx) != (action.extension, context):
            log.info("IVR: offering the front desk %s@%s instead", desk_ext, desk_ctx)
            second = await self._dial(desk_ext, desk_ctx)
            if second not in DIAL_FAILED:
                self._outcome = Outcome(
                    "transfer", menu, f"fallback_after_{status.lower()}", extension=desk_ext, context=desk_ctx,
                    department=getattr(desk, "department", None),
                )
                return
            status = second
        self._outcome = Outcome(
            "transfer_failed", menu, status.lower(), extension=action.extension, context=context,
            department=action.department,
        )
        await self.ch.hangup()
