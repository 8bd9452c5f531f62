"""The keypad menu engine: a pure state machine, events in, actions out, no I/O and no clock reads
except the injected one.

Two executors drive it: the ARI executor (our own RTP audio, digits from ``ChannelDtmfReceived``)
and the FastAGI route (STREAM FILE / WAIT FOR DIGIT / GET DATA / EXEC Dial). Because both run the
same table, a menu behaves the same whichever way Asterisk reaches us, and every FreePBX-style
behaviour can be tested with plain objects and a fake clock.

The transition table is explicit (``_TABLE``): an event with no row for the current state raises
:class:`IllegalEvent` naming the state, instead of being absorbed by a stray flag.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ari_app.ivr.config import (
    BackAction,
    GotoMenu,
    HangupAction,
    InfoAction,
    LanguageAction,
    MenuTree,
    OperatorAction,
    Prompt,
    RepeatAction,
    ResolvedMenu,
    StartAgentAction,
    TransferAction,
    normalise_phrase,
)
from ari_app.ivr.errors import IllegalEvent, IvrError

# --------------------------------------------------------------------------------------- events in


@dataclass(frozen=True)
class Start:
    """The call entered the IVR; the engine picks the day/night/holiday menu by the clock."""


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class SpeechIntent:
    """What the caller said (a transcript or an intent name) while a menu was offered."""

    text: str


@dataclass(frozen=True)
class Timeout:
    timer_id: int


@dataclass(frozen=True)
class PromptFinished:
    """The last ``Play`` ran to its end (not cut)."""


@dataclass(frozen=True)
class CallerHangup:
    """The caller left (the design's "hang-up" event; named apart from the ``Hangup`` action)."""


Event = Start | Digit | SpeechIntent | Timeout | PromptFinished | CallerHangup

# -------------------------------------------------------------------------------------- actions out


@dataclass(frozen=True)
class Play:
    prompt: Prompt
    menu: str


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class Transfer:
    extension: str
    context: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class StartAgent:
    menu: str


@dataclass(frozen=True)
class Hangup:
    cause: str = "normal"


@dataclass(frozen=True)
class SetVariable:
    name: str
    value: str


@dataclass(frozen=True)
class SetLanguage:
    """The caller chose a language: everything spoken from here on (the next menu's prompt
    included, which is why this comes before its ``Play``) uses it."""

    language: str


@dataclass(frozen=True)
class StartTimer:
    """Arm the one engine timer (replacing any armed one); fire ``Timeout(timer_id)`` when it ends."""

    seconds: float
    timer_id: int


@dataclass(frozen=True)
class CancelTimer:
    timer_id: int


Action = (
    Play | StopPlayback | Transfer | StartAgent | Hangup | SetVariable | SetLanguage | StartTimer | CancelTimer
)


class State(enum.Enum):
    IDLE = "idle"
    PROMPTING = "prompting"  # a menu/info/retry prompt is playing; a digit cuts it
    WAITING = "waiting"  # prompt done, menu timeout armed
    COLLECTING = "collecting"  # direct-dial digits buffered, inter-digit timer armed
    AGENT = "agent"  # the AI agent talks; a digit still wins
    CLOSING = "closing"  # a goodbye prompt plays, then hang up
    DONE = "done"


@dataclass(frozen=True)
class Outcome:
    """How the IVR ended, for whoever runs the executor (and for the call record)."""

    kind: str  # transfer | agent | hangup | caller_hangup
    menu: str
    reason: str  # key | speech | direct_dial | timeout | invalid | caller
    extension: str | None = None
    context: str | None = None
    department: str | None = None


class IvrEngine:
    """One caller's walk through the menu tree."""

    def __init__(self, tree: MenuTree, clock: Callable[[], datetime] | None = None) -> None:
        self.tree = tree
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state = State.IDLE
        self.stack: list[str] = []
        self.timeouts = 0
        self.invalids = 0
        self.buffer = ""
        self.outcome: Outcome | None = None
        self._queue: list[Prompt] = []
        self._timer: int | None = None
        self._next_timer = 0
        self.language: str | None = None  # chosen in the menu; None = the call's own

    # ------------------------------------------------------------------------------------ public

    @property
    def menu(self) -> ResolvedMenu:
        if not self.stack:
            raise IvrError("the IVR has not started")
        return self.tree.menus[self.stack[-1]]

    @property
    def timer_armed(self) -> int | None:
        return self._timer

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; return the actions the executor must carry out, in order."""
        row = _TABLE.get((self.state, type(event)))
        if row is None:
            raise IllegalEvent(self.state.name, event)
        return row(self, event)

    def start(self) -> list[Action]:
        return self.handle(Start())

    # ------------------------------------------------------------------------------- transitions

    def _on_start(self, _: Start) -> list[Action]:
        return self._enter(self.tree.entry_menu(self.clock()), push=True)

    def _on_digit_in_menu(self, ev: Digit) -> list[Action]:
        out: list[Action] = [StopPlayback()] if self.state in (State.PROMPTING, State.AGENT) else []
        out += self._disarm()
        self._queue.clear()
        return out + self._select_digit(ev.digit)

    def _on_speech_in_menu(self, ev: SpeechIntent) -> list[Action]:
        out: list[Action] = [StopPlayback()] if self.state is State.PROMPTING else []
        out += self._disarm()
        self._queue.clear()
        self.buffer = ""
        return out + self._select_speech(ev.text)

    def _on_prompt_finished(self, _: PromptFinished) -> list[Action]:
        if self._queue:
            return [Play(self._queue.pop(0), self.menu.id)]
        self.state = State.WAITING
        return self._arm(self.menu.timeout_s)

    def _on_menu_timeout(self, ev: Timeout) -> list[Action]:
        if ev.timer_id != self._timer:
            return []  # a timer the executor could not cancel in time: stale, not an error
        self._timer = None
        self.timeouts += 1
        m = self.menu
        if self.timeouts >= m.timeout_attempts:
            return [SetVariable("HOTEL_IVR_EXIT", "timeout"), *self._do(m.timeout_destination, "timeout")]
        return self._replay(m.timeout_prompt)

    def _on_collect_digit(self, ev: Digit) -> list[Action]:
        dd = self.menu.direct_dial
        assert dd is not None
        if ev.digit == "#":
            return self._disarm() + self._complete()
        if ev.digit == "*":
            self.buffer = ""
            return self._disarm() + self._back()
        if not ev.digit.isdigit():
            self.buffer = ""
            return self._disarm() + self._invalid()
        self.buffer += ev.digit
        if len(self.buffer) >= dd.max_digits:
            return self._disarm() + self._complete()
        return self._arm(dd.interdigit_timeout_s)

    def _on_collect_timeout(self, ev: Timeout) -> list[Action]:
        if ev.timer_id != self._timer:
            return []
        self._timer = None
        return self._complete()

    def _on_late_timeout(self, ev: Timeout) -> list[Action]:
        """A timer that fired just as a digit cancelled it is stale; one never issued is a bug."""
        if 0 < ev.timer_id <= self._next_timer and ev.timer_id != self._timer:
            return []
        raise IllegalEvent(self.state.name, ev)

    def _on_prompt_finished_ignored(self, _: PromptFinished) -> list[Action]:
        return []  # the agent's own speech ended; nothing for the menu to do

    def _on_closing_finished(self, _: PromptFinished) -> list[Action]:
        self.state = State.DONE
        return [Hangup()]

    def _on_digit_ignored(self, _: Digit) -> list[Action]:
        return []  # the goodbye is not interruptible: the decision is made

    def _on_hangup(self, _: CallerHangup) -> list[Action]:
        out = self._disarm()
        if self.state is not State.DONE:
            self.outcome = Outcome("caller_hangup", self.stack[-1] if self.stack else "", "caller")
        self.state = State.DONE
        return out

    # ------------------------------------------------------------------------------------ helpers

    def _arm(self, seconds: float) -> list[Action]:
        self._next_timer += 1
        self._timer = self._next_timer
        return [StartTimer(seconds, self._timer)]

    def _disarm(self) -> list[Action]:
        if self._timer is None:
            return []
        tid, self._timer = self._timer, None
        return [CancelTimer(tid)]

    def _enter(self, menu_id: str, *, push: bool, preface: Prompt | None = None) -> list[Action]:
        if push:
            self.stack.append(menu_id)
        self.timeouts = 0
        self.invalids = 0
        self.buffer = ""
        m = self.tree.menus[menu_id]
        self._queue = [m.prompt]
        if preface is not None:
            self._queue.insert(0, preface)
        self.state = State.PROMPTING
        out = self._disarm()
        out.append(SetVariable("HOTEL_IVR_MENU", menu_id))
        out.append(Play(self._queue.pop(0), menu_id))
        return out

    def _replay(self, preface: Prompt | None) -> list[Action]:
        """Play an optional notice and then the current menu again, keeping the retry counters."""
        m = self.menu
        self._queue = [m.prompt] if preface is None else [preface, m.prompt]
        self.state = State.PROMPTING
        return [*self._disarm(), Play(self._queue.pop(0), m.id)]

    def _select_digit(self, digit: str) -> list[Action]:
        m = self.menu
        if digit == "*":
            return self._back()
        dd = m.direct_dial
        if dd is not None and digit in dd.first_digits:
            self.buffer = digit
            self.state = State.COLLECTING
            if dd.max_digits == 1:
                return self._complete()
            return self._arm(dd.interdigit_timeout_s)
        return self._select_key(digit, "key")

    def _select_key(self, digit: str, reason: str) -> list[Action]:
        m = self.menu
        if digit in m.options:
            return [SetVariable("HOTEL_IVR_CHOICE", digit), *self._do(m.options[digit], reason)]
        if digit == self.tree.operator_digit and self.tree.operator is not None:
            return [SetVariable("HOTEL_IVR_CHOICE", digit), *self._do(self.tree.operator, reason)]
        return self._invalid()

    def _select_speech(self, text: str) -> list[Action]:
        phrase = normalise_phrase(text)
        syn = self.menu.synonyms
        digit = syn.get(phrase)
        if digit is None:
            # "the front desk please" contains "front desk": the longest contained synonym wins.
            hits = [k for k in syn if re.search(rf"\b{re.escape(k)}\b", phrase)]
            if hits:
                digit = syn[max(hits, key=len)]
        if digit is None:
            return self._invalid()
        return self._select_key(digit, "speech")

    def _complete(self) -> list[Action]:
        buf, self.buffer = self.buffer, ""
        m = self.menu
        dd = m.direct_dial
        assert dd is not None
        if len(buf) == 1 and (buf in m.options or buf == self.tree.operator_digit):
            return self._select_key(buf, "key")
        ok = dd.min_digits <= len(buf) <= dd.max_digits and (dd.pattern is None or re.fullmatch(dd.pattern, buf))
        if not ok:
            return self._invalid()
        context = dd.context or self.tree.transfer_context
        self.state = State.DONE
        self.outcome = Outcome("transfer", m.id, "direct_dial", extension=buf, context=context)
        return [SetVariable("HOTEL_IVR_EXIT", "direct_dial"), Transfer(buf, context)]

    def _invalid(self) -> list[Action]:
        self.invalids += 1
        m = self.menu
        if self.invalids >= m.invalid_attempts:
            return [SetVariable("HOTEL_IVR_EXIT", "invalid"), *self._do(m.invalid_destination, "invalid")]
        return self._replay(m.invalid_prompt)

    def _back(self) -> list[Action]:
        if len(self.stack) > 1:
            self.stack.pop()
            return self._enter(self.stack[-1], push=False)
        return self._replay(None)  # * at the top menu: nothing to go back to, hear it again

    def _do(self, action: Any, reason: str) -> list[Action]:
        m = self.menu
        if isinstance(action, GotoMenu):
            return self._enter(action.menu, push=True)
        if isinstance(action, LanguageAction):
            self.language = action.language
            return [SetLanguage(action.language), *self._enter(action.menu, push=True)]
        if isinstance(action, RepeatAction):
            return self._replay(None)
        if isinstance(action, BackAction):
            return self._back()
        if isinstance(action, InfoAction):
            return self._replay(action.prompt)
        if isinstance(action, OperatorAction):
            return self._do(self.tree.operator, reason)
        if isinstance(action, TransferAction):
            assert action.extension is not None
            self.state = State.DONE
            self.outcome = Outcome(
                "transfer", m.id, reason, extension=action.extension, context=action.context, department=action.department
            )
            return [Transfer(action.extension, action.context, action.department)]
        if isinstance(action, StartAgentAction):
            self.state = State.AGENT
            self.outcome = Outcome("agent", m.id, reason)
            return [StartAgent(m.id)]
        if isinstance(action, HangupAction):
            self.outcome = Outcome("hangup", m.id, reason)
            if action.prompt is not None:
                self.state = State.CLOSING
                return [Play(action.prompt, m.id)]
            self.state = State.DONE
            return [Hangup()]
        raise IvrError(f"menu {m.id!r}: unknown action {action!r}")


_Handler = Callable[[IvrEngine, Any], list[Action]]

# The whole behaviour at a glance: (state, event) -> transition. Anything missing is illegal.
_TABLE: dict[tuple[State, type], _Handler] = {
    (State.IDLE, Start): IvrEngine._on_start,
    (State.IDLE, CallerHangup): IvrEngine._on_hangup,
    (State.PROMPTING, Digit): IvrEngine._on_digit_in_menu,
    (State.PROMPTING, SpeechIntent): IvrEngine._on_speech_in_menu,
    (State.PROMPTING, PromptFinished): IvrEngine._on_prompt_finished,
    (State.PROMPTING, CallerHangup): IvrEngine._on_hangup,
    (State.PROMPTING, Timeout): IvrEngine._on_late_timeout,
    (State.AGENT, Timeout): IvrEngine._on_late_timeout,
    (State.CLOSING, Timeout): IvrEngine._on_late_timeout,
    (State.DONE, Timeout): IvrEngine._on_late_timeout,
    (State.WAITING, Digit): IvrEngine._on_digit_in_menu,
    (State.WAITING, SpeechIntent): IvrEngine._on_speech_in_menu,
    (State.WAITING, Timeout): IvrEngine._on_menu_timeout,
    (State.WAITING, CallerHangup): IvrEngine._on_hangup,
    (State.COLLECTING, Digit): IvrEngine._on_collect_digit,
    (State.COLLECTING, SpeechIntent): IvrEngine._on_speech_in_menu,
    (State.COLLECTING, Timeout): IvrEngine._on_collect_timeout,
    (State.COLLECTING, CallerHangup): IvrEngine._on_hangup,
    (State.AGENT, Digit): IvrEngine._on_digit_in_menu,
    (State.AGENT, PromptFinished): IvrEngine._on_prompt_finished_ignored,
    (State.AGENT, CallerHangup): IvrEngine._on_hangup,
    (State.CLOSING, PromptFinished): IvrEngine._on_closing_finished,
    (State.CLOSING, Digit): IvrEngine._on_digit_ignored,
    (State.CLOSING, CallerHangup): IvrEngine._on_hangup,
    (State.DONE, CallerHangup): IvrEngine._on_hangup,
}

TRANSITIONS = dict(_TABLE)
