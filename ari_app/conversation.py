"""What one call hears and does: greeting, spoken turns through the brain, keypad menu, hand-offs.

This is the glue between the parts that each do one job: the speech loop (listen, transcribe,
speak, barge-in), the brain (what to say and which tool to run), and the IVR executor (menus,
timeouts, transfers). Two rules hold it together:

- a key press always wins: while the agent talks, a digit flushes our audio at once and the IVR
  engine decides what the key means (the caller who presses 0 wants a person, not a sentence);
- the brain never touches the call: it yields actions (transfer, hold, hang up, menu) and this
  module carries them out after the sentence announcing them has been spoken.

All tasks started here live in a TaskGroup owned by the call, so a hang-up (which cancels the
call's tasks) ends them all.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ari_app.brain import snapshot as dialog_snapshot
from ari_app.brain.context import CallContext, Turn
from ari_app.brain.events import Action, Say, ToolCalled
from ari_app.calls.limits import LimitAction, LimitConfig, LimitsWatcher
from ari_app.ivr.engine import IvrEngine, Outcome, State
from ari_app.ivr.executor import AriIvrExecutor, SoundLoader, wav_sound_loader
from ari_app.language import CallLanguage
from ari_app.logging_setup import call_id_var
from ari_app.outbound_opening import outbound_opening, request_id_from_args
from ari_app.privacy import watch_payment_stage
from ari_app.session import CallGone, CallSession

if TYPE_CHECKING:
    from ari_app.brain.base import Brain
    from ari_app.ivr.config import MenuStore
    from ari_app.metrics import Metrics
    from ari_app.recording.manager import RecordingManager
    from ari_app.settings import Settings
    from ari_app.speech.engines import SpeechEngines
    from ari_app.speech.loop import TurnResult
    from ari_app.tools.facts import HotelFacts
    from ari_app.tools.registry import ToolRegistry

log = logging.getLogger("ari_app.conversation")

Pcm = npt.NDArray[np.int16]
# The realtime bridge is optional; it is injected as a callable so this module needs no OpenAI import.
RealtimeRunner = Callable[[CallSession, CallContext], Awaitable["AgentExit"]]


@dataclass
class ConversationDeps:
    """Shared by every call of the process: models, brain and menus are loaded once."""

    settings: Settings
    brain: Brain
    menus: MenuStore
    speech: SpeechEngines | None = None  # None: keypad-only (no speech models loaded)
    registry: ToolRegistry | None = None
    facts: HotelFacts | None = None
    metrics: Metrics | None = None
    realtime: RealtimeRunner | None = None
    sound_loader: SoundLoader | None = None
    max_hold_s: float = 120.0
    limits_clock: Callable[[], float] | None = None  # call limits count on this clock (tests)
    limits_sleep: Callable[[float], Awaitable[None]] | None = None  # ...and wait on this one
    ivr_clock: Callable[[], datetime] | None = None  # business hours are decided on this clock
    recordings: RecordingManager | None = None  # per-call recording (ari_app.recording); None: never


@dataclass
class AgentExit:
    """Why the agent phase ended."""

    kind: Literal["key", "action", "engine_error", "hangup", "stopped"]
    key: str = ""
    action: Action | None = None
    detail: str = ""


@dataclass
class _AgentTurnState:
    pending: Action | None = None
    key: str = ""
    said: list[str] = field(default_factory=list)


# Embedded-brain stages where the caller's next "yes" runs a tool that changes a booking.
COMMITTING_STAGES = frozenset({"confirm", "book", "cancel_confirm", "cancel_fee", "modify_confirm"})


@dataclass
class _DialogSnapshot:
    """The brain's per-call state before a turn, to put back if that turn is withdrawn."""

    state: Any
    turns: list[Any]
    llm_messages: list[Any]
    llm_failed: bool

    @classmethod
    def take(cls, ctx: CallContext) -> _DialogSnapshot:
        return cls(copy.deepcopy(ctx.state), list(ctx.turns), copy.deepcopy(ctx.llm_messages), ctx.llm_failed)

    def restore(self, ctx: CallContext) -> None:
        ctx.state = self.state
        ctx.turns[:] = self.turns
        ctx.llm_messages[:] = self.llm_messages
        ctx.llm_failed = self.llm_failed


# What a re-adopted call hears instead of the greeting (the caller was greeted before the restart);
# with its dialog state back, the apology goes on with the question the caller was last asked.
RESUME_TEXT = "I'm sorry, we were cut off for a moment. Could you tell me again where we were?"
RESUME_APOLOGY = "I'm sorry, we were cut off for a moment."

# What a screened-out caller hears (prompt key "screened_out" in the language file overrides it).
SCREENED_OUT_TEXT = "Sorry, we can't take your call at the moment. Goodbye."
SCREENED_OUT_SOUND = "sound:vm-goodbye"

# What a call limit says (prompt key in the language file, and the English fallback when the
# language file has no such key).
LIMIT_PROMPTS: dict[LimitAction, tuple[str, str]] = {
    "still_there": ("still_there", "Are you still there?"),
    "duration_warning": (
        "time_warning",
        "I'm sorry, we have about a minute left on this call. Is there anything else I can do for you?",
    ),
    "duration_end": (
        "time_up",
        "I'm sorry, we have reached the time limit for this call. Please call again if you need "
        "anything else. Goodbye.",
    ),
    "inactivity_end": ("silence_goodbye", "I can't hear anyone, so I'll end the call now. Goodbye."),
}


def _tone(ms: int = 300, freq: float = 440.0) -> Pcm:
    """A neutral beep for menu prompts when no voice is loaded (keypad-only sites)."""
    t = np.arange(int(8000 * ms / 1000)) / 8000.0
    out: Pcm = (np.sin(2 * np.pi * freq * t) * 6000).astype(np.int16)
    return out


class CallConversation:
    def __init__(self, deps: ConversationDeps, session: CallSession) -> None:
        self.deps = deps
        self.session = session
        self.ctx = CallContext.for_session(session, facts=deps.facts, registry=deps.registry)
        # decided at answer (dialled number, channel); the menu or the first utterance may change it
        self.language = CallLanguage(session.info.language)
        self.language.listeners.append(self._on_language)
        engine = IvrEngine(deps.menus.tree, clock=deps.ivr_clock)
        self.executor = AriIvrExecutor(
            session, engine, self._render_prompt, sound_loader=deps.sound_loader, language=self.language
        )
        self.greeted = False
        self._snapshot: _DialogSnapshot | None = None
        self._loop: Any = None  # the SpeechLoop of the agent phase, while it runs
        self._greeting_turn: int | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._dialog_seq = 0  # order of the dialog-state writes (the store keeps the newest)
        self._dialog_restored = False  # a re-adopted call got its stored dialog state back
        limits = deps.settings.calls
        self.limits = LimitsWatcher(
            LimitConfig(
                max_duration_s=limits.max_duration_s,
                duration_warning_s=limits.duration_warning_s,
                inactivity_s=limits.inactivity_s,
                inactivity_prompts=limits.inactivity_prompts,
            ),
            is_idle=self._idle,
            say=self._say_limit,
            end=self._end_for,
            clock=deps.limits_clock or asyncio.get_running_loop().time,
            sleep=deps.limits_sleep or asyncio.sleep,
        )
        # per call: an engine failure on this call switches only this call to the keypad
        self.speech = deps.speech
        self.realtime = deps.realtime

    # ------------------------------------------------------------------------------ prompts

    async def _render_prompt(self, text: str) -> Pcm:
        """A menu prompt or information text of the keypad menu; it is part of the transcript
        (an agent turn in ``dtmf`` mode, issue 16 D8)."""
        await self._store_agent(text, mode="dtmf")
        speech = self.speech or self.deps.speech
        if speech is None:
            return _tone()
        voice = speech.voice_for(self.language.code)
        return await speech.cache.get(voice, text)

    def _on_language(self, code: str) -> None:
        log.info("call language is now %s (%s)", code, self.language.source)
        self.ctx.language = code

    async def _store_agent(self, text: str, mode: str = "speech", **kwargs: Any) -> None:
        if not text:
            return
        try:
            await self.session.store.add_turn(
                self.session.info.call_row_id, "agent", text, input_mode=mode, **kwargs
            )
        except Exception as exc:  # the database must not take the caller's audio down with it
            log.warning("could not store an agent turn: %r", exc)

    # --------------------------------------------------------------------------------- main

    async def run(self) -> None:
        call_id_var.set(self.session.info.session_id)
        # payment stage: stored text masks any number (privacy); the state object is replaced when a
        # turn is withdrawn or a re-adopted call gets its stored state back, so it is looked up each time
        watch_payment_stage(lambda: self.ctx.state.stage)
        # recording (ari_app.recording): starts with the conversation and is finished however it ends
        recordings = self.deps.recordings
        recording = await recordings.start(self.session, self.ctx) if recordings is not None else None
        if self.session.info.adopted:
            await self._resume_history()
            await self._resume_dialog()
        if self.session.info.screening == "reject":
            try:
                await self._refuse()
            finally:
                if recording is not None:
                    recording.stop()
            return
        try:
            error: Exception | None = None
            async with asyncio.TaskGroup() as tg:
                watcher = tg.create_task(self._watch_limits(), name=f"limits-{self.session.info.session_id}")
                try:
                    await self._converse()
                except Exception as exc:  # re-raised as itself, not wrapped in an ExceptionGroup
                    error = exc
                finally:
                    watcher.cancel()
            if error is not None:
                raise error
        except CallGone:
            log.info("caller left during the conversation")
        finally:
            if recording is not None:
                recording.stop()  # synchronous: closes the WAV; the manager finishes it in its own task
            if self._writes:  # owned by this conversation: finished before it returns
                await asyncio.gather(*self._writes, return_exceptions=True)

    async def _refuse(self) -> None:
        """A screened-out caller (block list, rate limit, withheld number policy) hears one short
        sentence and is hung up; the row keeps the reason."""
        speech = self.speech or self.deps.speech
        try:
            if speech is not None:
                try:
                    text = speech.prompt_text("screened_out", self.language.code)
                except KeyError:
                    text = SCREENED_OUT_TEXT
                pcm = await speech.cache.get(speech.voice_for(self.language.code), text)
                await self._store_agent(text)
                await self.session.media.play(pcm).wait()
            else:  # a keypad-only site has no voice: Asterisk's stock "Goodbye"
                await self._store_agent("Goodbye.")
                await self.session.control.play_sound(SCREENED_OUT_SOUND)
            await self._end_for(self.session.info.screening_reason or "blocked")
        except CallGone:
            log.info("screened-out caller left before the message ended")

    async def _converse(self) -> None:
        if self.session.info.screening == "menu_only":
            # the menu, and no agent: an "operator" choice goes to the front desk
            outcome = await self._run_menu()
            log.info("menu-only caller (%s): menu ended %s", self.session.info.screening_reason, outcome.kind)
            if outcome.kind == "agent":
                await self.session.control.transfer(
                    self.deps.settings.hotel.front_desk_extension, self.deps.settings.ivr.transfer_context
                )
            return
        if self.deps.settings.ivr.start_in_menu or not self._can_talk():
            outcome = await self._run_menu()
            if not await self._after_menu(outcome):
                return
        while True:
            exit_ = await self._agent_phase()
            if not await self._after_agent(exit_):
                return

    # ------------------------------------------------------------------------- call limits

    async def _watch_limits(self) -> None:
        try:
            await self.limits.run()
        except CallGone:
            pass
        except Exception as exc:  # a limit must never take the conversation down
            log.exception("call limits failed: %r", exc)

    def _idle(self) -> bool:
        """Silence counts only while the agent listens (the keypad menu has its own timeouts)."""
        loop = self._loop
        return bool(loop is not None and loop.idle)

    async def _say_limit(self, action: LimitAction) -> None:
        key, fallback = LIMIT_PROMPTS[action]
        speech = self.speech or self.deps.speech
        if speech is None:
            return
        try:
            text = speech.prompt_text(key, self.language.code)
        except KeyError:
            text = fallback
        if action in ("duration_end", "inactivity_end"):
            self.session.media.flush()  # the goodbye goes now, not after a reply in progress
        try:
            pcm = await speech.cache.get(speech.voice_for(self.language.code), text)
        except Exception as exc:  # a failing voice must not keep a dead call open
            log.warning("call limit %s: could not render the prompt: %s", action, exc)
            return
        await self._store_agent(text)
        await self.session.media.play(pcm).wait()

    async def _end_for(self, reason: str) -> None:
        control = self.session.control
        note = getattr(control, "note_end_reason", None)
        if callable(note):
            note(reason)
        log.info("ending the call: %s", reason)
        await control.hangup("normal")

    def _can_talk(self) -> bool:
        return self.speech is not None or self.realtime is not None

    async def _after_menu(self, outcome: Outcome) -> bool:
        """True when the caller should now talk to the agent."""
        log.info("menu ended: %s via %s in %s", outcome.kind, outcome.reason, outcome.menu)
        if outcome.kind != "agent":
            return False
        if not self._can_talk():
            # keypad-only site: the "agent" is the front desk
            await self.session.control.transfer(
                self.deps.settings.hotel.front_desk_extension, self.deps.settings.ivr.transfer_context
            )
            return False
        return True

    async def _after_agent(self, exit_: AgentExit) -> bool:
        """Carry out what ended the agent phase; True when the agent should listen again."""
        control = self.session.control
        if exit_.kind in ("hangup", "stopped"):
            return False
        if exit_.kind == "key":
            self._requeue_key(exit_.key)
            return await self._after_menu(await self._run_menu())
        if exit_.kind == "engine_error":
            # the loop already apologised; the keypad always works
            if self.realtime is not None:
                # the realtime endpoint failed: the local pipeline (if loaded) takes over this call
                log.warning("realtime bridge failed (%s); continuing with local speech", exit_.detail)
                self.realtime = None
                if self.speech is not None:
                    return True
            else:
                log.warning("speech engine failed (%s); offering the keypad menu", exit_.detail)
                self.speech = None
            return await self._after_menu(await self._run_menu())
        action = exit_.action
        assert action is not None
        kind = action.kind
        if kind == "transfer":
            extension = str(action.data.get("extension") or self.deps.settings.hotel.front_desk_extension)
            # the caller's own context (a trunk's) cannot dial desks: use the transfer context
            context = action.data.get("context") or self.deps.settings.ivr.transfer_context
            await control.transfer(extension, str(context))
            return False
        if kind == "hangup":
            await control.hangup("normal")
            return False
        if kind == "hold":
            seconds = min(float(action.data.get("seconds", 30)), self.deps.max_hold_s)
            await control.start_hold_music()
            try:
                await asyncio.sleep(seconds)
            finally:
                await control.stop_hold_music()
            return True
        if kind == "menu":
            if self.executor.engine.state is State.AGENT:
                self.executor.digit("*")  # back to the menu the agent was chosen from
            return await self._after_menu(await self._run_menu())
        log.warning("unknown action %r from the brain; ignored", kind)
        return True

    async def _run_menu(self) -> Outcome:
        """Run the keypad menu; with speech loaded, saying an option works like pressing it."""
        speech = self.speech
        if speech is None:
            return await self.executor.run()
        from ari_app.speech.loop import SpeechLoop

        executor = self.executor

        async def heard(text: str) -> AsyncIterator[str]:
            executor.say(text)  # the engine matches it against the options' synonyms
            return
            yield  # an async generator that speaks nothing: the menu prompts do the talking

        listener = SpeechLoop(self.session, speech, heard, language=self.language.code)
        # a language chosen in this menu applies to what the caller says next, too
        self.language.listeners.append(listener.set_language)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(listener.run(), name=f"menu-listen-{self.session.info.session_id}")
                try:
                    return await executor.run()
                finally:
                    listener.stop()
        finally:
            self.language.listeners.remove(listener.set_language)

    def _requeue_key(self, key: str) -> None:
        """Give the IVR the key the agent phase caught, ahead of any typed after it."""
        if self.executor.engine.state is State.AGENT:
            self.executor.digit(key)
            return
        rest: list[str] = []
        while not self.session.dtmf.empty():
            rest.append(self.session.dtmf.get_nowait())
        for k in (key, *rest):
            self.session.dtmf.put_nowait(k)

    # ---------------------------------------------------------------------------- agent phase

    def _early_end_is_safe(self) -> bool:
        """Ending a turn early is safe in every brain mode: a tool that changes a booking waits on
        the commit gate until the turn can no longer be withdrawn (ari_app/speech/commit.py)."""
        return True

    async def _resume_history(self) -> None:
        """A re-adopted call (the service restarted while the caller waited): the brain gets the
        stored conversation back as history, and the caller is not greeted a second time."""
        try:
            turns = await self.session.store.call_turns(self.session.info.call_row_id)
        except Exception as exc:
            log.warning("could not read the call's earlier turns: %r", exc)
            return
        self.ctx.turns.extend(
            Turn(t.role, t.content, t.input_mode) for t in turns if t.role in ("caller", "agent")
        )

    async def _resume_dialog(self) -> None:
        """A re-adopted call also gets the brain's dialog state back (slots, stage, LLM messages),
        so a booking half made before the restart goes on at the next question. A state that
        cannot be read (an older release, damage) leaves a fresh dialog: the turns are history."""
        load = getattr(self.session.store, "load_dialog_state", None)
        if not callable(load):
            return
        call_id = self.session.info.call_row_id
        try:
            record = await load(call_id)
        except Exception as exc:
            log.warning("could not read the call's dialog state: %r", exc)
            record = None
        if record is not None:
            self._dialog_seq = record.seq  # later writes must count on from the stored one
            self._dialog_restored = dialog_snapshot.load_into(self.ctx, record.snapshot, call=call_id)
        if self._dialog_restored:
            log.info("dialog state restored (stage %s)", self.ctx.state.stage)
            if self.ctx.language != self.language.code:  # a language the caller chose or spoke
                self.language.set(self.ctx.language, "detected")
        elif self.deps.brain.name == "llm" and not self.ctx.llm_messages:
            from ari_app.brain.llm import system_prompt

            # no usable state: the model at least gets what was said, from the stored turns
            self.ctx.llm_messages[:] = dialog_snapshot.messages_from_turns(self.ctx, system_prompt(self.ctx))

    def _save_dialog(self) -> None:
        """Write the brain's state as it is now, in the background (the reply is not held up); the
        text is taken now, so later changes wait for the next write."""
        save = getattr(self.session.store, "save_dialog_state", None)
        call_id = self.session.info.call_row_id
        if not callable(save) or call_id is None:
            return
        try:
            text = dialog_snapshot.dump(self.ctx, self.deps.brain.name)
        except Exception as exc:  # a value the snapshot cannot hold: the call goes on regardless
            log.warning("could not snapshot the dialog state: %r", exc)
            return
        self._dialog_seq += 1

        async def write(seq: int = self._dialog_seq) -> None:
            try:
                await save(call_id, seq, self.deps.brain.name, text)
            except Exception as exc:
                log.warning("could not store the dialog state: %r", exc)

        try:
            self._spawn_write(write())
        except RuntimeError:  # no running loop: a reply generator finalised at shutdown
            write().close()

    def _spawn_write(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"store-{self.session.info.session_id}")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _withdraw_stored_turn(self) -> None:
        withdraw = getattr(self.session.store, "withdraw_last_caller_turn", None)
        if not callable(withdraw):
            return
        try:
            number = await withdraw(self.session.info.call_row_id)
            log.info("caller turn %s withdrawn (the caller went on)", number)
        except Exception as exc:
            log.warning("could not mark the withdrawn caller turn: %r", exc)

    async def _keep_greeting(self, loop: Any, text: str, number: int) -> None:
        """Store the greeting once it has played, as far as the caller heard it, with the
        interrupted flag when barge-in (or a hang-up) cut it (issue 16 D9, issue 11)."""
        played: tuple[Any, int] | None = None
        try:
            # event-driven: a poll on the wall clock let a frame-paced call run past the greeting
            # before it was stored, so the reply was stored first (a loaded-suite flake, issue 15)
            await loop.greeting_started.wait()
            played = loop.greeting_utterance
            await played[0].wait()
        finally:
            heard, cut = text, False
            if played is None:
                heard = ""
            else:
                sent, frames = min(played[0].frames_sent, played[1]), played[1]
                if sent < frames:
                    words = text.split()
                    heard, cut = " ".join(words[: int(len(words) * sent / max(1, frames))]), True
            await asyncio.shield(self._store_agent(heard, turn_number=number, interrupted=cut))

    async def _greeting(self) -> str:
        if self.greeted:
            return ""
        self.greeted = True
        if self.session.info.adopted:
            text = RESUME_TEXT
            if self._dialog_restored and self.ctx.state.last_prompt and not self._llm_leads():
                text = f"{RESUME_APOLOGY} {self.ctx.state.last_prompt}"
            await self._store_agent(text)
            return text
        opening: str | None = None
        sessions = getattr(self.session.store, "sessions", None)
        if request_id_from_args(self.session.info.stasis_args) is not None and sessions is not None:
            opening = await outbound_opening(sessions, self.session.info.stasis_args, self.deps.settings.hotel.name)
        if opening is not None:
            text = opening
            self.ctx.turns.append(Turn("agent", text))
            self.ctx.state.last_prompt = "Is there anything I can help you with?"
        else:
            parts: list[str] = []
            async for ev in self.deps.brain.greet(self.ctx):
                if isinstance(ev, Say):
                    parts.append(ev.text)
            text = " ".join(parts)
        reserve = getattr(self.session.store, "reserve_turn", None)
        if callable(reserve) and text:
            try:  # its place is now; its text once we know how much of it was heard
                self._greeting_turn = await reserve(self.session.info.call_row_id)
            except Exception:
                self._greeting_turn = None
        if self._greeting_turn is None:
            await self._store_agent(text)
        return text

    def _llm_leads(self) -> bool:
        """The LLM brain is talking (its own questions are not in the embedded dialog's state)."""
        return self.deps.brain.name == "llm" and not self.ctx.llm_failed

    async def _agent_phase(self) -> AgentExit:
        if self.realtime is not None:
            return await self.realtime(self.session, self.ctx)
        from ari_app.speech.commit import CommitGate, GatedRegistry
        from ari_app.speech.loop import SpeechLoop

        speech = self.speech
        assert speech is not None
        gate = CommitGate()
        if not isinstance(self.ctx.registry, GatedRegistry):
            self.ctx.registry = GatedRegistry(self.ctx.registry, gate)  # type: ignore[assignment]
        gate = self.ctx.registry.gate  # type: ignore[attr-defined]
        state = _AgentTurnState()
        brain = self.deps.brain
        metrics = self.deps.metrics

        async def respond(text: str) -> AsyncIterator[str]:
            self._snapshot = _DialogSnapshot.take(self.ctx)
            try:
                async for ev in brain.respond(self.ctx, text, "speech"):
                    if isinstance(ev, Say):
                        state.said.append(ev.text)
                        yield ev.text
                    elif isinstance(ev, Action):
                        state.pending = ev
                    elif isinstance(ev, ToolCalled) and metrics is not None:
                        metrics.tool_runs.labels(tool=ev.name, ok=str(ev.ok).lower()).inc()
            finally:  # answered, or cut by barge-in: either way the state may have moved (DESIGN 2.7)
                self._save_dialog()

        loop: SpeechLoop | None = None

        async def on_turn(result: TurnResult) -> None:
            self._snapshot = None  # this turn was answered: a later withdrawal must not undo it
            if metrics is not None and result.latency_ms is not None:
                metrics.turn_latency_ms.observe(result.latency_ms)
            if state.pending is not None and loop is not None:
                loop.stop()

        def withdraw() -> None:
            if self._snapshot is not None:
                self._snapshot.restore(self.ctx)
                self._snapshot = None
                self._save_dialog()  # the stored state goes back with it
                # the brain answered that caller turn, so it was stored: it leaves the transcript
                self._spawn_write(self._withdraw_stored_turn())
            state.pending = None

        loop = SpeechLoop(
            self.session,
            speech,
            respond,
            on_turn=on_turn,
            allow_early_end=self._early_end_is_safe,
            on_withdraw=withdraw,
            commit_gate=gate,
            language=self.language.code,
            detect_language=self.language.may_detect,
            on_language=lambda code: self.language.set(code, "detected"),
        )
        greeting = await self._greeting()
        self._loop = loop

        async def watch_keys() -> None:
            key = await self.session.dtmf.get()
            self.session.media.flush()  # a digit always wins: cut our speech now
            state.key = key
            assert loop is not None
            loop.stop()

        try:
            async with asyncio.TaskGroup() as tg:
                keeper: asyncio.Task[None] | None = None
                if greeting and self._greeting_turn is not None:
                    number, self._greeting_turn = self._greeting_turn, None
                    keeper = tg.create_task(self._keep_greeting(loop, greeting, number), name="greeting-store")
                watcher = tg.create_task(watch_keys(), name=f"keys-{self.session.info.session_id}")
                result = await loop.run(greeting or None)
                watcher.cancel()
                if keeper is not None and loop.greeting_utterance is None:
                    keeper.cancel()  # the greeting never played (the loop ended first)
        finally:
            self._loop = None
        if state.key:
            return AgentExit("key", key=state.key)
        if result.reason == "engine_error":
            if metrics is not None:
                metrics.speech_errors.inc()
            return AgentExit("engine_error", detail=f"{result.engine}: {result.error}")
        if result.reason == "hangup":
            return AgentExit("hangup")
        if state.pending is not None:
            return AgentExit("action", action=state.pending)
        return AgentExit("stopped")


def conversation_factory(deps: ConversationDeps) -> Callable[[CallSession], Awaitable[None]]:
    """What the call manager runs for each answered call."""

    async def converse(session: CallSession) -> None:
        await CallConversation(deps, session).run()

    return converse


def default_sound_loader(settings: Settings) -> SoundLoader | None:
    folder: Any = getattr(settings.ivr, "sounds_dir", None)
    return wav_sound_loader(folder) if folder else None
