"""The voice pipeline of one call: listen, detect the end of a turn, transcribe, answer, speak.

One reader task consumes caller frames for the whole call, so the caller is heard even while we
transcribe, think or speak. Each turn runs in its own task; speaking a reply runs in an inner task
that barge-in cancels. Everything is owned by the loop's TaskGroup and stops when :meth:`run` returns.

Timings use an injectable clock; frame counts (20 ms each) are the unit for everything the tests check.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from ari_app.speech.commit import CommitGate
from ari_app.speech.echo import is_probable_echo
from ari_app.speech.errors import SpeechEngineError
from ari_app.speech.stt import AUTO_LANGUAGE, Transcript
from ari_app.speech.tts import SentenceTts, TtsEngine, join_chunks
from ari_app.speech.turnend import Hangovers, Verdict, asks_yes_no, judge, reads_finished
from ari_app.speech.vad import (
    FRAME_SAMPLES,
    EndOfTurn,
    Endpointer,
    FrameClassifier,
    SegmentDiscarded,
    SpeechConfirmed,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    frame_dbfs,
)

if TYPE_CHECKING:
    from ari_app.session import CallSession, Utterance
    from ari_app.speech.engines import SpeechEngines

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
Respond = Callable[[str], AsyncIterator[str]]
FRAME_MS = 20
ECHO_RECHECK_EVERY = 5  # frames: how often a segment taken for echo is judged again
ECHO_RECHECK_UNTIL = 60  # frames after the segment began: by then the caller was heard out


@dataclass
class TurnResult:
    """One caller turn and our answer; ``spoken_text`` is what the caller actually heard."""

    caller_text: str
    reply_text: str = ""
    spoken_text: str = ""
    interrupted: bool = False
    latency_ms: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    stt_rejected: str = ""


@dataclass(frozen=True)
class LoopResult:
    """Why the loop ended; on ``engine_error`` the conversation should offer the keypad menu or a transfer."""

    reason: Literal["stopped", "hangup", "engine_error"]
    turns: tuple[TurnResult, ...] = ()
    error: str = ""
    engine: str = ""


__all__ = ["LoopResult", "SpeechLoop", "TurnResult", "reads_finished"]


def _levels(pcm: Int16Array) -> npt.NDArray[np.float64]:
    n = -(-len(pcm) // FRAME_SAMPLES)
    padded = np.zeros(n * FRAME_SAMPLES, dtype=np.float64)
    padded[: len(pcm)] = pcm
    rms = np.sqrt(np.mean(np.square(padded.reshape(n, FRAME_SAMPLES)), axis=1))
    out: npt.NDArray[np.float64] = np.where(
        rms < 1e-6, -120.0, 20 * np.log10(np.maximum(rms, 1e-6) / 32768.0)
    )
    return out


@dataclass
class _Spoken:
    sentence: str
    utt: Utterance
    frames: int
    levels: npt.NDArray[np.float64]

    def heard(self) -> str:
        sent = min(self.utt.frames_sent, self.frames)
        if sent >= self.frames:
            return self.sentence
        if sent <= 0:
            return ""
        words = self.sentence.split()
        return " ".join(words[: int(len(words) * sent / self.frames)])


class _Turn:
    def __init__(self, audio: Int16Array, eot: EndOfTurn, t_eot: float) -> None:
        self.audio = audio
        self.eot = eot
        self.t_eot = t_eot
        self.speculative: asyncio.Task[Transcript | Exception] | None = None
        self.task: asyncio.Task[None] | None = None
        self.speak_task: asyncio.Task[None] | None = None
        self.spoken: list[_Spoken] = []
        self.reply_parts: list[str] = []
        self.interrupted = False
        self.cut_frame: int | None = None
        self.timings: dict[str, float] = {}
        self.t_first_queued: float | None = None
        self.t_first_sent: float | None = None
        self.early = False  # ended on a finished-sounding guess before the full hangover
        self.settled = False  # the full hangover passed without the caller going on
        self.verdict: Verdict | None = None  # what the turn-end rule made of the last guess

    @property
    def speaking(self) -> bool:
        """Has any of the reply gone to the media plane (then the caller may have heard it)?"""
        return bool(self.spoken)

    @property
    def on_air(self) -> bool:
        """Is the reply still being played? ``speaking`` stays true after the reply ended, and using
        it here kept every later turn of the call from ever being transcribed speculatively."""
        return self.speaking and self.speak_task is not None and not self.speak_task.done()


class SpeechLoop:
    def __init__(
        self,
        session: CallSession,
        engines: SpeechEngines,
        respond: Respond,
        *,
        language: str | None = None,
        classifier: FrameClassifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_turn: Callable[[TurnResult], Awaitable[None]] | None = None,
        allow_early_end: Callable[[], bool] | None = None,
        on_withdraw: Callable[[], None] | None = None,
        record: bool = True,
        speculative: bool = True,
        detect_language: bool = False,
        on_language: Callable[[str], None] | None = None,
        commit_gate: CommitGate | None = None,
        turn_end_rule: bool = True,
    ) -> None:
        self.session = session
        self.media = session.media
        self.engines = engines
        self.respond = respond
        self.language = language or session.info.language or engines.settings.language
        self.tts: TtsEngine = engines.voice_for(self.language)
        self.classifier = classifier or engines.classifier()
        self.endpointer = Endpointer(engines.endpointer_config())
        self.clock = clock
        self.on_turn = on_turn
        # the conversation knows when a quick "yes" would trigger something irreversible (a booking):
        # then the turn waits the full hangover instead of ending on a finished-sounding guess
        self.allow_early_end = allow_early_end
        # told when an early-ended turn is withdrawn because the caller went on, so whatever the
        # reply to it changed (dialog state) can be put back before the merged turn is answered
        self.on_withdraw = on_withdraw
        self.record = record
        self.speculative = speculative  # off only to measure what speculation buys (bench baseline)
        # the first caller turn is transcribed without a fixed language and may switch the voice;
        # ``on_language`` hears the outcome (kept or switched) so the brain's context follows
        self._detecting = detect_language and engines.can_detect_language
        self.on_language = on_language
        self.turns: list[TurnResult] = []
        self.barge_ins: list[int] = []
        self.continuations: list[int] = []  # frame index where a caller resumed an early-ended turn  # frame index of each barge-in decision
        self.echo_ignored = 0
        self.echo_cleared = 0  # segments first taken for echo, then heard to be the caller
        self._tg: asyncio.TaskGroup | None = None
        self._done: asyncio.Future[LoopResult] | None = None
        self._turn: _Turn | None = None
        self._spec: tuple[asyncio.Task[Transcript | Exception], int] | None = None
        self._spec_merged = False  # the current guess covers a withdrawn turn's audio too
        # a pause met with every worker busy: guessed on the first frame a worker is free, while the
        # caller is still silent (otherwise a loaded machine sends every such turn to the full hangover)
        self._late_pause: SpeechPaused | None = None
        self._segment_during_speech = False
        self._continuing: _Turn | None = None  # an early-ended turn the caller turned out to go on with
        self._segment_echo = False
        self._segment_start_idx = 0
        self._in_levels: collections.deque[float] = collections.deque(maxlen=200)
        self._out_levels: collections.deque[float] = collections.deque(maxlen=200)
        self._prompts: collections.deque[tuple[Utterance, npt.NDArray[np.float64]]] = collections.deque()
        self._stop_requested = False
        self._guess_lock = asyncio.Lock()
        s = engines.settings
        end = self.endpointer.config.end_frames
        # the turn-end rule: how much silence ends a turn, from what the speculative transcript says;
        # off (bench baseline) = the fixed hangover for every turn
        self.turn_end_rule = turn_end_rule
        self.hangovers = Hangovers(
            finished=max(1, s.vad_early_end_ms // FRAME_MS) if s.vad_early_end_ms else end,
            unsure=end,
            open=max(end, getattr(s, "vad_open_end_ms", 0) // FRAME_MS),
        )
        self._early_frames = self.hangovers.finished if s.vad_early_end_ms else 0
        self._verdict: tuple[int, Verdict] | None = None  # (speech frames judged, verdict) this pause
        # tools that change a booking wait on this until an early-ended turn can no longer be withdrawn
        self.commit_gate = commit_gate
        self._last_agent_text = ""  # what we said last: a yes/no question makes "Yes." a finished turn
        # the greeting's utterance and length in frames, once it plays: the conversation stores the
        # greeting as far as the caller heard it (issue 16 D9)
        self.greeting_utterance: tuple[Utterance, int] | None = None
        self.greeting_started = asyncio.Event()  # set with greeting_utterance
        self._speech_after_agent = 0  # speech frames of the open segment heard after our audio ended

    # ---- public ---------------------------------------------------------------------------------

    async def run(self, greeting: str | None = None) -> LoopResult:
        """Run until :meth:`stop`, hang-up, or an engine failure (after the apology has played)."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        if self._stop_requested:
            self._finish(LoopResult("stopped"))
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            aux: list[asyncio.Task[None]] = []
            if greeting:
                aux.append(tg.create_task(self._play_text(greeting), name="speech-greeting"))
            aux.append(tg.create_task(self._read_loop(), name="speech-reader"))
            result = await self._done
            for task in aux:
                task.cancel()
            self._drop_speculative()
            if self._turn is not None and self._continuing is None:
                self._settle(self._turn)  # the call moved on (stop, hang-up): the caller did not go on
            if self.commit_gate is not None:
                self.commit_gate.settle()  # a later phase of the call must never find the gate shut
            await self._wind_down_turn()
        self._tg = None
        return LoopResult(result.reason, tuple(self.turns), result.error, result.engine)

    async def _wind_down_turn(self, grace_s: float = 2.0) -> None:
        """A reply cut by hang-up or stop is still recorded (as cut off); a turn still thinking is dropped."""
        turn = self._turn
        if turn is None or turn.task is None or turn.task.done():
            return
        if turn.speak_task is None:
            self._cancel_turn()
            return
        turn.interrupted = True
        turn.speak_task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(turn.task), grace_s)
        except (TimeoutError, Exception):
            turn.task.cancel()

    @property
    def idle(self) -> bool:
        """Nobody talking and no turn being answered: the time a silence limit counts (calls/limits)."""
        turn = self._turn
        answering = turn is not None and turn.task is not None and not turn.task.done()
        return not (self.media.is_playing or answering or self.endpointer.in_segment)

    def set_language(self, language: str) -> None:
        """Speak and transcribe in ``language`` from the next turn (a menu choice, a detection)."""
        self.language = language
        self.tts = self.engines.voice_for(language)

    def stop(self) -> None:
        self._stop_requested = True
        self._finish(LoopResult("stopped"))

    # ---- frames ---------------------------------------------------------------------------------

    def _finish(self, result: LoopResult) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(result)

    async def _read_loop(self) -> None:
        from ari_app.media.errors import MediaError
        from ari_app.session import CallGone

        while True:
            try:
                pcm = await self.media.read_frame()
            except (MediaError, CallGone, ConnectionError):
                self._finish(LoopResult("hangup"))
                return
            self.on_frame(pcm)

    def _agent_speaking(self) -> bool:
        turn = self._turn
        return self.media.is_playing or (turn is not None and turn.on_air and not turn.interrupted)

    def _outgoing_level(self) -> float:
        """Level of the agent frame sent last, for the echo guard's reference envelope."""
        while self._prompts and self._prompts[0][0].frames_sent >= len(self._prompts[0][1]):
            self._prompts.popleft()
        turn = self._turn
        queue: list[tuple[Utterance, npt.NDArray[np.float64]]] = list(self._prompts)
        if turn is not None and not turn.interrupted:
            queue += [(s.utt, s.levels) for s in turn.spoken]
        for utt, levels in queue:
            sent = utt.frames_sent
            if sent >= len(levels):
                continue
            return float(levels[sent - 1]) if sent > 0 else -120.0
        return -120.0

    def on_frame(self, pcm: Int16Array) -> None:
        """Handle one caller frame (the reader calls this; tests may call it directly)."""
        speech = self.classifier.is_speech(pcm)
        level = getattr(self.classifier, "last_dbfs", None)
        self._in_levels.append(float(level) if level is not None else frame_dbfs(pcm))
        self._out_levels.append(self._outgoing_level())
        turn = self._turn
        if (
            turn is not None
            and turn.t_first_sent is None
            and turn.spoken
            and turn.spoken[0].utt.frames_sent > 0
        ):
            turn.t_first_sent = self.clock()
        agent = self._agent_speaking()
        if not agent and speech and self.endpointer.in_segment:
            self._speech_after_agent += 1
        ev = self.endpointer.push(pcm, speech)
        if ev is None and self._late_pause is not None:
            self._guess_late()
        if ev is None and self._turn_end_ready():
            ev = self.endpointer.end_now()
        self._settle_if_due()
        if ev is None:
            if self._segment_echo and self.endpointer.in_segment:
                self._recheck_echo()
            return
        if isinstance(ev, SpeechStarted):
            self._segment_during_speech = agent
            self._segment_echo = False
            self._segment_start_idx = ev.frame
            self._speech_after_agent = 0 if agent else self.endpointer.speech_frames
        elif isinstance(ev, SpeechConfirmed):
            self._on_confirmed(ev)
        elif isinstance(ev, SpeechPaused):
            if self.speculative and not self._segment_echo and not self._agent_speaking():
                self._start_speculative(ev)
        elif isinstance(ev, SpeechResumed):
            self._verdict = None
            self._late_pause = None
            self._drop_speculative()
        elif isinstance(ev, EndOfTurn):
            self._late_pause = None
            self._on_end_of_turn(ev)
        elif isinstance(ev, SegmentDiscarded):
            self._verdict = None
            self._late_pause = None
            self._drop_speculative()

    def _turn_end_ready(self) -> bool:
        """Apply the turn-end rule once the speculative transcript of exactly this audio is in: a
        finished one ("...for two guests.", "Yes." after "Shall I book it?") ends the turn after the
        short hangover, an open one ("...a room for", "Great.") waits the long one, anything else
        the normal one. True when the turn should end now."""
        if not self.turn_end_rule or self._spec is None or not self.endpointer.in_segment:
            return False
        task, frames = self._spec
        if not task.done() or task.cancelled() or frames != self.endpointer.speech_frames:
            return False
        if self._verdict is None or self._verdict[0] != frames:
            guess = task.result()
            text = guess.text if isinstance(guess, Transcript) else ""
            verdict: Verdict = (
                judge(text, expecting_yes_no=asks_yes_no(self._last_agent_text))
                if isinstance(guess, Transcript)
                else "unsure"
            )
            if verdict == "finished" and (
                not self._early_frames or (self.allow_early_end is not None and not self.allow_early_end())
            ):
                verdict = "unsure"
            self._verdict = (frames, verdict)
            log.debug("speech: turn-end verdict %s after %d ms of silence on %r", verdict,
                      self.endpointer.silence_frames * FRAME_MS, text)
            self.endpointer.hold(self.hangovers.for_verdict(verdict))
        verdict = self._verdict[1]
        return verdict == "finished" and self.endpointer.silence_frames >= self.hangovers.finished

    def _settle_if_due(self) -> None:
        """An early-ended turn becomes final once the full hangover has passed with no new speech
        (or with speech that began too late to be a continuation): then its tools may commit."""
        prev = self._turn
        if prev is None or prev.settled or self._continuing is not None:
            return
        window = self.endpointer.frame_index - prev.eot.last_speech_frame
        if window < self.endpointer.config.end_frames:
            return
        if self.endpointer.in_segment and self.endpointer.segment_start - prev.eot.last_speech_frame <= (
            self.endpointer.config.end_frames
        ):
            return  # speech began inside the window: wait for it to be confirmed (a continuation) or dropped
        self._settle(prev)

    def _settle(self, turn: _Turn) -> None:
        turn.settled = True
        if self.commit_gate is not None and self._turn is turn:
            self.commit_gate.settle()

    def _resumes_early_turn(self, ev: SpeechConfirmed) -> bool:
        """Speech that starts within the full hangover of a turn we ended early: the caller had only
        paused ("Hello, … do you have a room?"). The full hangover would not have ended that turn."""
        prev = self._turn
        return (
            prev is not None
            and prev.early
            and self._continuing is None
            and ev.start_frame - prev.eot.last_speech_frame <= self.endpointer.config.end_frames
        )

    def _continue_turn(self, frame: int) -> None:
        """Withdraw the early reply at once and answer the whole utterance at its real end."""
        prev = self._turn
        assert prev is not None
        if prev.on_air or prev.speaking:
            self.media.flush()
            prev.interrupted = True
            prev.cut_frame = frame
        if prev.speak_task is not None and not prev.speak_task.done():
            prev.speak_task.cancel()
        self._cancel_turn()
        self._continuing = prev
        self._segment_during_speech = False  # this segment is the caller's turn, not a backchannel
        self.continuations.append(frame)
        if self.on_withdraw is not None:
            self.on_withdraw()

    def _on_confirmed(self, ev: SpeechConfirmed) -> None:
        if self._resumes_early_turn(ev):
            self._continue_turn(ev.frame)
            return
        speaking = self._agent_speaking()
        if not speaking and not self._segment_during_speech:
            return
        if self.engines.settings.echo_guard:
            if self._echo_judged(ev.start_frame):
                self._segment_echo = True
                self.echo_ignored += 1
                return
        if speaking:
            self._barge_in(ev.frame)

    def _echo_judged(self, start_frame: int) -> bool:
        n = min(len(self._in_levels), self.endpointer.frame_index - start_frame + 1)
        return is_probable_echo(list(self._in_levels)[-n:], list(self._out_levels))

    def _recheck_echo(self) -> None:
        """Take another look at a segment judged to be echo, on more of it.

        Ten frames are a small sample: a caller starting to talk over a prompt follows its envelope
        that long by chance often enough (16 of 50 start points of a flite caller over a flite prompt,
        tests/speech/test_echo_over_prompt.py; in a level-only simulation 0 true echoes were lost on
        re-check), and the whole request was then dropped. Echo keeps
        following our audio; a caller soon stops, so every 5 frames, for up to 60, the judgement is
        made again on everything heard since the segment began."""
        elapsed = self.endpointer.frame_index - self._segment_start_idx
        if elapsed % ECHO_RECHECK_EVERY or elapsed > ECHO_RECHECK_UNTIL:
            return
        if self._echo_judged(self._segment_start_idx):
            return
        self._segment_echo = False
        self.echo_cleared += 1
        if self._agent_speaking():
            self._barge_in(self.endpointer.frame_index)

    def _barge_in(self, frame: int) -> None:
        """Stop our audio now: flush is synchronous, so no agent frame leaves after this tick."""
        self.media.flush()
        self.barge_ins.append(frame)
        self._prompts.clear()
        turn = self._turn
        if turn is not None and turn.speak_task is not None and not turn.speak_task.done():
            turn.interrupted = True
            turn.cut_frame = frame
            turn.speak_task.cancel()

    def _on_end_of_turn(self, ev: EndOfTurn) -> None:
        verdict = self._verdict[1] if self._verdict and self._verdict[0] == ev.speech_frames else None
        self._verdict = None
        # speech that went on well after our audio stopped is the caller's turn, however it began:
        # a caller who starts as a long prompt ends was dropped as a backchannel (issue 16 D10)
        heard_after = self._speech_after_agent
        confirm = self.endpointer.config.confirm_frames
        if self._segment_echo and heard_after < confirm + 15:  # 15: the echo guard's longest lag
            self._drop_speculative()
            return
        if self._segment_during_speech and not self.barge_ins_in_segment(ev) and heard_after < confirm:
            # a short "mm-hm" over our reply is a backchannel, not a new turn
            self._drop_speculative()
            return
        audio = ev.audio
        prev = self._turn
        merged_guess = False
        if self._continuing is not None:
            audio = np.concatenate([self._continuing.audio, audio])
            self._continuing = None
            # the guesses of a continued turn were made on the merged audio: the last one still counts
            merged_guess = self._spec is not None and self._spec_merged
            if not merged_guess:
                self._drop_speculative()
        elif prev is not None and prev.task is not None and not prev.task.done() and not prev.speaking:
            # the caller went on before we answered: answer everything they said
            audio = np.concatenate([prev.audio, audio])
            self._cancel_turn()
            self._drop_speculative()
            if self.on_withdraw is not None:  # its stored caller turn and dialog changes go (issue 16 D5)
                self.on_withdraw()
        turn = _Turn(audio, ev, self.clock())
        turn.early = ev.reason == "silence" and ev.frame - ev.last_speech_frame < self.endpointer.config.end_frames
        turn.settled = not turn.early
        turn.verdict = verdict
        if self.commit_gate is not None:
            if turn.early:
                self.commit_gate.provisional()
            else:
                self.commit_gate.settle()
        if self._spec is not None:
            task, frames = self._spec
            self._spec = None
            if frames == ev.speech_frames and (audio is ev.audio or merged_guess):
                turn.speculative = task
            else:
                task.cancel()
        assert self._tg is not None
        self._turn = turn
        turn.task = self._tg.create_task(self._run_turn(turn), name="speech-turn")

    def barge_ins_in_segment(self, ev: EndOfTurn) -> bool:
        return any(f >= ev.start_frame for f in self.barge_ins)

    def _start_speculative(self, ev: SpeechPaused) -> None:
        """Guess only on an idle worker: a guess queued behind other calls' real work, or behind our
        own stale guess (CTranslate2 cannot be interrupted), would arrive after the end of turn and
        only delay the transcription that counts. Without a guess the turn waits the full hangover."""
        self._drop_speculative()
        if self.engines.pool.busy or self._guess_lock.locked():
            self._late_pause = ev
            return
        self._late_pause = None
        assert self._tg is not None
        audio = ev.audio
        # a caller going on after an early end: guess on everything they said, so the merged turn
        # gets the same early, speculative answer as any other
        self._spec_merged = self._continuing is not None
        if self._continuing is not None:
            audio = np.concatenate([self._continuing.audio, audio])
        task = self._tg.create_task(self._transcribe_guess(audio), name="speech-speculative-stt")
        self._spec = (task, ev.speech_frames)
        if self.turn_end_rule:
            # silence alone does not end the turn while its reading is on the way (a loaded machine
            # returns guesses after the normal hangover): the verdict sets the real hangover, and the
            # long one caps the wait
            self.endpointer.hold(self.hangovers.open)

    def _guess_late(self) -> None:
        """The guess a busy pool put off, now that a worker is free and the pause still lasts."""
        late = self._late_pause
        assert late is not None
        if not self.endpointer.in_segment or self.endpointer.speech_frames != late.speech_frames:
            self._late_pause = None
        elif not (self.engines.pool.busy or self._guess_lock.locked() or self._agent_speaking()):
            self._start_speculative(late)

    def _drop_speculative(self) -> None:
        if self._spec is not None:
            self._spec[0].cancel()
            self._spec = None

    def _cancel_turn(self) -> None:
        turn = self._turn
        if turn is not None and turn.task is not None and not turn.task.done():
            turn.task.cancel()
            if turn.speculative is not None:
                turn.speculative.cancel()

    # ---- a turn ---------------------------------------------------------------------------------

    async def _transcribe(self, audio: Int16Array) -> Transcript:
        return await self.engines.stt.transcribe(audio, AUTO_LANGUAGE if self._detecting else self.language)

    async def _transcribe_guess(self, audio: Int16Array) -> Transcript | Exception:
        """A speculative transcript; a failure is returned, not raised, so a guess that is never used
        cannot take the loop's TaskGroup down. The turn that uses it re-raises.

        At most one guess per call occupies a worker: a discarded guess cannot be stopped inside
        CTranslate2, so the next one waits for it instead of stacking stale work in the shared pool.
        """
        async with self._guess_lock:
            assert self._tg is not None
            inner = self._tg.create_task(self._transcribe_safe(audio), name="speech-guess-stt")
            try:
                await asyncio.wait({inner})
            except asyncio.CancelledError:
                await asyncio.wait({inner})  # hold the lock until the worker is really free
                raise
            if inner.cancelled():
                return RuntimeError("guess cancelled")
            return inner.result()

    async def _transcribe_safe(self, audio: Int16Array) -> Transcript | Exception:
        try:
            return await self._transcribe(audio)
        except Exception as exc:
            return exc

    async def _run_turn(self, turn: _Turn) -> None:
        t = turn.timings
        t["endpoint_ms"] = float((turn.eot.frame - turn.eot.last_speech_frame) * FRAME_MS)
        if (
            turn.eot.reason == "silence"
            and turn.eot.frame - turn.eot.last_speech_frame < self.endpointer.config.end_frames
        ):
            t["early_end"] = 1.0
        if turn.verdict is not None:
            t["verdict_" + turn.verdict] = 1.0
        said_moment = False
        try:
            if turn.speculative is not None:
                t["stt_speculative"] = 1.0
                guess = await turn.speculative
                if isinstance(guess, Exception):
                    raise guess
                transcript = guess
            else:
                if self.engines.pool.busy:
                    said_moment = self._play_cached("one_moment")
                transcript = await self._transcribe(turn.audio)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._fail(exc, "stt")
            return
        t_stt = self.clock()
        t["stt_ms"] = (t_stt - turn.t_eot) * 1000
        result = TurnResult(transcript.text, stt_rejected=transcript.rejected)
        if transcript.empty:
            log.info("speech: turn dropped (%s)", transcript.rejected or "empty")
            return
        if self._detecting:
            await self._settle_language(transcript)
        if self.record:
            await self._store_turn("caller", transcript.text, timings={"audio_ms": len(turn.audio) / 8})

        if self.engines.pool.busy and not said_moment:
            said_moment = self._play_cached("one_moment")
        if said_moment:
            t["one_moment"] = 1.0  # the caller's first audio was the filler, not the answer
        t_first_text: list[float] = []

        async def reply_text() -> AsyncIterator[str]:
            async for chunk in self.respond(transcript.text):
                if not t_first_text:
                    t_first_text.append(self.clock())
                turn.reply_parts.append(chunk)
                yield chunk

        failure: list[BaseException] = []

        async def speak() -> None:
            tts = self.tts
            try:
                if isinstance(tts, SentenceTts):
                    stream = tts.speak_sentences(reply_text())
                    async with contextlib.aclosing(stream):
                        async for sentence, pcm in stream:
                            self._queue_audio(turn, sentence, pcm)
                else:
                    gen = tts.speak(reply_text())
                    async with contextlib.aclosing(gen):
                        async for pcm in gen:
                            self._queue_audio(turn, "", pcm)
                for s in turn.spoken:
                    await s.utt.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failure.append(exc)

        assert self._tg is not None
        turn.speak_task = self._tg.create_task(speak(), name="speech-speak")
        try:
            await asyncio.wait({turn.speak_task})
        except asyncio.CancelledError:
            turn.speak_task.cancel()
            raise
        if failure:
            await self._fail(failure[0], "tts" if t_first_text else "brain")
            return
        if turn.t_first_queued is not None and turn.t_first_sent is None:
            turn.t_first_sent = turn.t_first_queued
        if t_first_text:
            t["brain_ms"] = (t_first_text[0] - t_stt) * 1000
            if turn.t_first_queued is not None:
                t["tts_first_audio_ms"] = (turn.t_first_queued - t_first_text[0]) * 1000
        if turn.t_first_queued is not None and turn.t_first_sent is not None:
            t["send_ms"] = (turn.t_first_sent - turn.t_first_queued) * 1000
            t["first_audio_ms"] = (turn.t_first_sent - turn.t_eot) * 1000
            result.latency_ms = int(round(t["endpoint_ms"] + t["first_audio_ms"]))
        result.reply_text = join_chunks(turn.reply_parts)
        self._last_agent_text = result.reply_text
        result.spoken_text = " ".join(h for s in turn.spoken if (h := s.heard())).strip()
        result.interrupted = turn.interrupted
        if turn.interrupted and turn.cut_frame is not None:
            t["cut_frame"] = float(turn.cut_frame)
        result.timings = dict(t)
        if self.record:
            await self._store_turn(
                "agent",
                result.spoken_text if turn.interrupted else result.reply_text,
                latency_ms=result.latency_ms,
                timings=result.timings,
                interrupted=turn.interrupted,
            )
            await self._store_metrics(result)
        self.turns.append(result)
        if self.on_turn is not None:
            await self.on_turn(result)

    async def _settle_language(self, transcript: Transcript) -> None:
        """Switch to the detected language only when we have its voice and the model is sure: a
        wrong switch makes the rest of the call unintelligible, a missed one only keeps the default."""
        self._detecting = False
        lang, prob = transcript.language, transcript.language_probability
        switch = (
            lang != self.language
            and lang in self.engines.voices
            and prob >= self.engines.settings.detect_min_probability
        )
        log.info("speech: detected language %r (p=%.2f); %s", lang, prob, "switching" if switch else "keeping " + self.language)
        if switch:
            self.set_language(lang)
        if self.record:
            await self._store_metric("speech.language_detected", prob, {"language": lang, "switched": switch})
        if self.on_language is not None:
            self.on_language(self.language)

    def _queue_audio(self, turn: _Turn, sentence: str, pcm: Int16Array) -> None:
        if turn.interrupted or pcm.size == 0:
            return
        utt = self.media.play(pcm)
        if turn.t_first_queued is None:
            turn.t_first_queued = self.clock()
        turn.spoken.append(_Spoken(sentence, utt, -(-len(pcm) // FRAME_SAMPLES), _levels(pcm)))

    def _play_cached(self, key: str) -> bool:
        pcm = self.engines.cached_prompt(key, self.language)
        if pcm is None:
            return False
        self._prompts.append((self.media.play(pcm), _levels(pcm)))
        return True

    async def _play_text(self, text: str) -> None:
        try:
            pcm = await self.engines.cache.get(self.tts, text)
        except Exception as exc:
            await self._fail(exc, "tts")
            return
        utt = self.media.play(pcm)
        self._prompts.append((utt, _levels(pcm)))
        self._last_agent_text = text
        self.greeting_utterance = (utt, -(-len(pcm) // FRAME_SAMPLES))
        self.greeting_started.set()
        await utt.wait()

    async def _fail(self, exc: BaseException, stage: str) -> None:
        """Apologise with the pre-rendered prompt and end the loop; the conversation decides what next."""
        engine = exc.engine if isinstance(exc, SpeechEngineError) else stage
        log.warning("speech: %s failed on call %s: %s", stage, self.session.info.session_id, exc)
        self.media.flush()
        pcm = self.engines.cached_prompt("apology", self.language)
        if pcm is not None:
            with contextlib.suppress(Exception):
                await self.media.play(pcm).wait()
        if self.record:
            await self._store_metric("speech.engine_error", 1.0, {"stage": stage, "engine": engine})
        self._finish(LoopResult("engine_error", error=f"{stage}: {exc}", engine=engine))

    # ---- store ----------------------------------------------------------------------------------

    async def _store_turn(self, role: str, content: str, **kwargs: object) -> None:
        store = getattr(self.session, "store", None)
        if store is None:
            return
        try:
            await store.add_turn(self.session.info.call_row_id, role, content, **kwargs)
        except Exception:  # the database must not take the call's audio down with it
            log.exception("speech: could not store %s turn", role)

    async def _store_metric(self, name: str, value: float, labels: dict[str, object]) -> None:
        store = getattr(self.session, "store", None)
        if store is None:
            return
        try:
            await store.add_metric(self.session.info.call_row_id, name, value, labels)
        except Exception:
            log.exception("speech: could not store metric %s", name)

    async def _store_metrics(self, result: TurnResult) -> None:
        labels: dict[str, object] = {"language": self.language, "interrupted": result.interrupted}
        if result.latency_ms is not None:
            await self._store_metric("speech.turn_latency_ms", float(result.latency_ms), labels)
        for key in ("stt_ms", "brain_ms", "tts_first_audio_ms"):
            if key in result.timings:
                await self._store_metric(f"speech.{key}", result.timings[key], labels)
        if result.interrupted:
            await self._store_metric("speech.barge_in", 1.0, labels)
