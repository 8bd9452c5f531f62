"""Per-call limits: the longest a call may last, and how long a caller may stay silent.

Issue 15 (call limits) and issue 16 D4 (silence): a call that reaches ``max_duration_s`` hears a
warning ``duration_warning_s`` before the end, then a polite goodbye, and is hung up; a caller who
neither speaks nor presses a key for ``inactivity_s`` (while we are not talking either) is asked
"Are you still there?" up to ``inactivity_prompts`` times, then told goodbye and hung up. Each
limit is stored as the call's end reason.

:class:`CallLimits` is the pure rule (times in, actions out), so tests drive it with a clock of
their own; :class:`LimitsWatcher` runs it for one call on an injected clock and sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger("ari_app.calls.limits")

LimitAction = Literal["duration_warning", "duration_end", "still_there", "inactivity_end"]

#: what each ending action stores as the call's end reason
END_REASONS: dict[LimitAction, str] = {"duration_end": "max_duration", "inactivity_end": "inactivity"}


@dataclass(frozen=True)
class LimitConfig:
    max_duration_s: float = 1800.0
    duration_warning_s: float = 60.0
    inactivity_s: float = 12.0
    inactivity_prompts: int = 1


class CallLimits:
    """Decides, from moments in time, when a limit acts. Each action is given once (a prompt once
    per silence); after an ending action nothing more is given."""

    def __init__(self, config: LimitConfig, started_at: float) -> None:
        self.config = config
        self.started_at = started_at
        self._last_activity = started_at
        self._prompts = 0
        self._warned = False
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def activity(self, now: float) -> None:
        """The caller spoke or pressed a key, or we are talking to them: the silence starts over."""
        self._last_activity = max(self._last_activity, now)
        self._prompts = 0

    def prompted(self, now: float) -> None:
        """Our prompt finished playing: the next silence is counted from here, prompts kept."""
        self._last_activity = max(self._last_activity, now)

    def due(self, now: float) -> list[LimitAction]:
        if self._ended:
            return []
        cfg = self.config
        out: list[LimitAction] = []
        elapsed = now - self.started_at
        if elapsed >= cfg.max_duration_s:
            self._ended = True
            return ["duration_end"]
        if not self._warned and cfg.duration_warning_s > 0 and elapsed >= cfg.max_duration_s - cfg.duration_warning_s:
            self._warned = True
            out.append("duration_warning")
            self._last_activity = max(self._last_activity, now)  # we talk now
        elif now - self._last_activity >= cfg.inactivity_s:
            if self._prompts < cfg.inactivity_prompts:
                self._prompts += 1
                self._last_activity = now
                out.append("still_there")
            else:
                self._ended = True
                out.append("inactivity_end")
        return out


Say = Callable[[LimitAction], Awaitable[None]]
End = Callable[[str], Awaitable[None]]


class LimitsWatcher:
    """Runs :class:`CallLimits` for one call: every ``tick_s`` it asks ``is_idle()`` (nobody
    talking, nothing being answered), lets the rule decide, speaks what it says (``say`` returns
    when the prompt has played) and ends the call with the reason of an ending action."""

    def __init__(
        self,
        config: LimitConfig,
        *,
        is_idle: Callable[[], bool],
        say: Say,
        end: End,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tick_s: float = 0.25,
    ) -> None:
        self.limits = CallLimits(config, clock())
        self.is_idle = is_idle
        self.say = say
        self.end = end
        self.clock = clock
        self.sleep = sleep
        self.tick_s = tick_s
        self.actions: list[LimitAction] = []

    def activity(self) -> None:
        """A key press (the conversation's DTMF path calls this)."""
        self.limits.activity(self.clock())

    async def run(self) -> None:
        while not self.limits.ended:
            await self.sleep(self.tick_s)
            await self.step()

    async def step(self) -> None:
        now = self.clock()
        if not self.is_idle():
            self.limits.activity(now)
        for action in self.limits.due(now):
            self.actions.append(action)
            log.info("call limit: %s", action)
            await self.say(action)
            self.limits.prompted(self.clock())
            reason = END_REASONS.get(action)
            if reason is not None:
                await self.end(reason)
