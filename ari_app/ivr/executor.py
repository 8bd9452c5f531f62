"""Runs the IVR engine on a live ARI call (a :class:`~ari_app.session.CallSession`).

The one hard requirement is that a key press cuts the prompt within a frame. So the path from a
digit to ``media.flush()`` has no await in it: the DTMF pump takes the digit from ``session.dtmf``
and feeds the engine synchronously, and the synchronous actions (stop playback, timers) run right
there. Only the slow actions (rendering a prompt, transfer, hang-up, channel variables) go through
a queue to one worker. A prompt that was being rendered when the caller pressed a key is dropped
when the render finishes (each ``Play`` carries a generation number; ``StopPlayback`` bumps it).

Timers come from an injectable factory (``loop.call_later`` by default) so tests fire them by hand.
"""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

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
    SpeechIntent,
    StartAgent,
    StartTimer,
    State,
    StopPlayback,
    Timeout,
    Transfer,
)
from ari_app.language import CallLanguage
from ari_app.session import CallGone, CallSession

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
PromptRenderer = Callable[[str], Awaitable[Pcm]]
SoundLoader = Callable[[str], Awaitable[Pcm | None]]
KEYS = frozenset("0123456789*#")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], TimerHandle]


def wav_sound_loader(folder: str | Path) -> SoundLoader:
    """Sound prompts from ``<folder>/<name>.wav`` (8 kHz, mono, 16-bit), read off the event loop."""
    base = Path(folder)

    def _read(name: str) -> Pcm | None:
        path = (base / f"{name}.wav").resolve()
        if base.resolve() not in path.parents or not path.is_file():
            return None
        with wave.open(str(path), "rb") as w:
            if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
                log.warning("IVR sound %s is not 8 kHz mono 16-bit; ignored", path)
                return None
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)

    async def load(name: str) -> Pcm | None:
        return await asyncio.to_thread(_read, name)

    return load


class AriIvrExecutor:
    """One call's menu run. ``run()`` returns the engine's :class:`Outcome`:

    - ``transfer``: the transfer was requested through ``session.control.transfer``;
    - ``agent``: the caller chose the AI agent; the engine stays in ``AGENT``. The conversation
      passes later keys to :meth:`digit` (which flushes the agent's speech at once, a digit always
      wins) and calls ``run()`` again to carry out what the key chose;
    - ``hangup`` / ``caller_hangup``: the call is over.
    """

    def __init__(
        self,
        session: CallSession,
        engine: IvrEngine,
        renderer: PromptRenderer,
        *,
        sound_loader: SoundLoader | None = None,
        timers: TimerFactory | None = None,
        language: CallLanguage | None = None,
    ) -> None:
        self.session = session
        # the conversation's holder: its renderer reads it, so a choice is heard from the next prompt
        self.language = language
        self.engine = engine
        self.renderer = renderer
        self.sound_loader = sound_loader
        self._timers = timers
        self._timer: tuple[int, TimerHandle] | None = None
        self._generation = 0
        self._utterance: Any = None
        self._work: asyncio.Queue[tuple[int, Action]] = asyncio.Queue()
        self._watchers: set[asyncio.Task[None]] = set()
        self.frames_cut = 0

    # --------------------------------------------------------------------------------- inputs

    def digit(self, key: str) -> None:
        """A key from the caller (also usable by the agent conversation after ``agent``)."""
        if key in KEYS:
            self._feed(Digit(key))

    def say(self, text: str) -> None:
        """What the caller said while a menu was offered (say-or-press)."""
        if self.engine.state in (State.PROMPTING, State.WAITING, State.COLLECTING):
            self._feed(SpeechIntent(text))

    # ------------------------------------------------------------------------------------ run

    async def run(self) -> Outcome:
        pump = asyncio.create_task(self._pump_dtmf(), name=f"ivr-dtmf-{self.session.info.session_id}")
        try:
            if self.engine.state is State.IDLE:
                self._feed_start()
            return await self._worker()
        except CallGone:
            if self.engine.state is not State.DONE:
                self.engine.handle(CallerHangup())
            assert self.engine.outcome is not None
            return self.engine.outcome
        finally:
            self._cancel_timer()
            pump.cancel()
            watchers = list(self._watchers)
            for task in watchers:
                task.cancel()
            await asyncio.gather(pump, *watchers, return_exceptions=True)

    def _feed_start(self) -> None:
        for action in self.engine.start():
            self._apply(action)

    async def _pump_dtmf(self) -> None:
        while True:
            key = await self.session.dtmf.get()
            if self.engine.state is State.DONE:
                continue
            self.digit(key)

    def _feed(self, event: Event) -> None:
        for action in self.engine.handle(event):
            self._apply(action)

    def _apply(self, action: Action) -> None:
        """Synchronous actions run now (this is what makes the cut immediate); the rest queue."""
        if isinstance(action, StopPlayback):
            self._generation += 1
            if self._utterance is not None:
                self._utterance.cancel()
                self._utterance = None
            self.frames_cut += self.session.media.flush()
        elif isinstance(action, StartTimer):
            self._cancel_timer()
            tid = action.timer_id
            factory = self._timers or asyncio.get_running_loop().call_later
            self._timer = (tid, factory(action.seconds, lambda: self._on_timer(tid)))
        elif isinstance(action, CancelTimer):
            if self._timer is not None and self._timer[0] == action.timer_id:
                self._cancel_timer()
        elif isinstance(action, SetLanguage):
            # synchronous, so the next menu's prompt (queued right after) renders in the new voice
            if self.language is not None:
                self.language.set(action.language, "menu")
        else:
            self._work.put_nowait((self._generation, action))

    def _on_timer(self, timer_id: int) -> None:
        if self._timer is not None and self._timer[0] == timer_id:
            self._timer = None
            self._feed(Timeout(timer_id))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None

    async def _worker(self) -> Outcome:
        control = self.session.control
        while True:
            generation, action = await self._work.get()
            if isinstance(action, Play):
                if generation == self._generation:
                    await self._play(action.prompt, generation)
            elif isinstance(action, SetVariable):
                await control.set_variable(action.name, action.value)
            elif isinstance(action, Transfer):
                await control.transfer(action.extension, action.context)
                return self._outcome()
            elif isinstance(action, StartAgent):
                return self._outcome()
            elif isinstance(action, Hangup):
                await control.hangup()
                return self._outcome()

    def _outcome(self) -> Outcome:
        assert self.engine.outcome is not None
        return self.engine.outcome

    async def _render(self, prompt: Prompt) -> Pcm | None:
        try:
            if prompt.sound and self.sound_loader is not None:
                pcm = await self.sound_loader(prompt.sound)
                if pcm is not None:
                    return pcm
            if prompt.text:
                return await self.renderer(prompt.text)
        except CallGone:
            raise
        except Exception:  # a TTS failure must not leave the caller in silence: skip this prompt
            log.exception("IVR prompt could not be rendered: %r", prompt.text or prompt.sound)
        return None

    async def _play(self, prompt: Prompt, generation: int) -> None:
        pcm = await self._render(prompt)
        if generation != self._generation:
            return  # the caller pressed a key while we were rendering
        if pcm is None or len(pcm) == 0:
            self._feed(PromptFinished())
            return
        utterance = self.session.media.play(pcm)
        self._utterance = utterance
        watcher = asyncio.create_task(self._watch(utterance, generation), name="ivr-prompt-watch")
        self._watchers.add(watcher)  # owned: cancelled and awaited when run() ends
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, utterance: Any, generation: int) -> None:
        finished = await utterance.wait()
        if finished is False or generation != self._generation:
            return  # cut by a key (or flushed by barge-in): the engine already knows
        self._utterance = None
        if self.engine.state in (State.PROMPTING, State.CLOSING):
            self._feed(PromptFinished())
