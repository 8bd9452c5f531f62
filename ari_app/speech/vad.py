"""Voice activity detection and endpointing on 20 ms, 8 kHz frames.

Two layers, so the interesting one is pure: a :class:`FrameClassifier` says "speech or not" for one
frame (webrtcvad behind an energy gate), and the :class:`Endpointer` turns that yes/no stream into
turn events, using the frame counter as its only clock. Tests drive the endpointer with synthetic
booleans and assert in frames; nothing here looks at wall-clock time.

webrtcvad costs a few microseconds per frame, less than a hop to a worker thread, so the classifier
runs inline on the loop; only Whisper and Piper go to the inference pool.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
import webrtcvad

Int16Array = npt.NDArray[np.int16]

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


def frame_dbfs(pcm: Int16Array) -> float:
    """RMS level relative to full scale; digital silence reads -120 rather than -inf."""
    if pcm.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))
    if rms < 1e-6:
        return -120.0
    return 20.0 * float(np.log10(rms / 32768.0))


def ms_to_frames(ms: float) -> int:
    return max(1, int(round(ms / FRAME_MS)))


class FrameClassifier(Protocol):
    """Decides whether one 20 ms frame carries speech."""

    def is_speech(self, pcm: Int16Array) -> bool: ...


class NoiseFloor:
    """The line's noise level: the quietest frame of the last few seconds (minimum statistics).

    Speech always has gaps (stops, breaths, between words) within a couple of seconds, so the
    minimum over a window follows the noise under the speech, not the speech; a steady hiss or hum
    is its own minimum. Levels are smoothed over a few frames first, so one lucky quiet frame of
    white noise does not pull the floor far below its real level.
    """

    def __init__(self, window_frames: int = 150, smooth_frames: int = 4) -> None:
        self._recent: collections.deque[float] = collections.deque(maxlen=smooth_frames)
        self._window: collections.deque[float] = collections.deque(maxlen=window_frames)
        self.level = -120.0

    def push(self, dbfs: float) -> float:
        self._recent.append(dbfs)
        # the mean of dB values over a short run: robust to a single dropout frame
        self._window.append(sum(self._recent) / len(self._recent))
        self.level = min(self._window)
        return self.level

    @property
    def frames_seen(self) -> int:
        return len(self._window)


class WebRtcClassifier:
    """webrtcvad behind an energy gate that follows the line's noise floor.

    webrtcvad alone flags steady hiss and hum on a phone line as voice. A frame quieter than
    ``energy_gate_dbfs`` is never speech, whatever the VAD says; on a noisy line (hiss at -30 dBFS
    passed the fixed gate, so the endpointer never closed a turn) the gate also stays
    ``noise_margin_db`` above the measured noise floor. One instance per call: the VAD and the floor
    keep state between frames.
    """

    def __init__(
        self,
        aggressiveness: int = 2,
        energy_gate_dbfs: float = -45.0,
        *,
        noise_margin_db: float = 9.0,
        adaptive: bool = True,
    ) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"aggressiveness must be 0..3, got {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.energy_gate_dbfs = energy_gate_dbfs
        self.noise_margin_db = noise_margin_db
        self.floor = NoiseFloor() if adaptive else None
        self.last_dbfs = -120.0

    @property
    def gate_dbfs(self) -> float:
        """The level a frame must reach to count as speech right now."""
        if self.floor is None or self.floor.frames_seen < 3:
            return self.energy_gate_dbfs
        # capped, so a floor measured on a caller who talks from the first frame cannot mute them
        return max(self.energy_gate_dbfs, min(self.floor.level + self.noise_margin_db, -20.0))

    def is_speech(self, pcm: Int16Array) -> bool:
        if pcm.shape != (FRAME_SAMPLES,):
            # a short/odd frame (concealment edge, test double) is padded/cut rather than rejected
            fixed = np.zeros(FRAME_SAMPLES, dtype=np.int16)
            n = min(FRAME_SAMPLES, pcm.size)
            fixed[:n] = pcm.reshape(-1)[:n]
            pcm = fixed
        self.last_dbfs = frame_dbfs(pcm)
        gate = self.gate_dbfs
        learning = self.floor is not None and self.floor.frames_seen < 3  # the line's first 60 ms: no floor yet
        if self.floor is not None:
            self.floor.push(self.last_dbfs)
        if self.last_dbfs < gate or learning:
            return False
        return bool(self._vad.is_speech(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), SAMPLE_RATE))


def voiced_frames(
    pcm: Int16Array, aggressiveness: int = 2, energy_gate_dbfs: float = -45.0, min_run: int = 3
) -> int:
    """Speech frames in runs of at least ``min_run`` (what could open a turn), over a whole clip.

    The speech-to-text engines check this before decoding: Whisper invents "Thank you." on a few
    seconds of line noise, and its own no-speech probability is a weaker guard than our VAD.
    """
    classifier = WebRtcClassifier(aggressiveness, energy_gate_dbfs)
    n = len(pcm) // FRAME_SAMPLES
    total = run = 0
    for frame in np.asarray(pcm[: n * FRAME_SAMPLES], dtype=np.int16).reshape(n, FRAME_SAMPLES):
        if classifier.is_speech(frame):
            run += 1
            total += run if run == min_run else (1 if run > min_run else 0)
        else:
            run = 0
    return total


# ---- endpointer events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechStarted:
    """Speech held for the start hangover; ``frame`` is the first speech frame of the run."""

    frame: int


@dataclass(frozen=True)
class SpeechConfirmed:
    """The segment now holds ``confirm`` frames of speech: long enough to be a barge-in, not a click."""

    frame: int
    start_frame: int


@dataclass(frozen=True)
class SpeechPaused:
    """Silence began after speech: time to transcribe speculatively; ``audio`` is the segment so far."""

    frame: int
    audio: Int16Array = field(repr=False)
    speech_frames: int


@dataclass(frozen=True)
class SpeechResumed:
    """The caller went on after a pause: any speculative transcript is stale."""

    frame: int


@dataclass(frozen=True)
class EndOfTurn:
    """The turn is over (hangover of silence or maximum length); ``audio`` runs preroll..last speech+tail."""

    frame: int
    start_frame: int
    last_speech_frame: int
    audio: Int16Array = field(repr=False)
    speech_frames: int
    reason: Literal["silence", "max_length"]


@dataclass(frozen=True)
class SegmentDiscarded:
    """A segment ended with too little speech to be an utterance (a click, a cough)."""

    frame: int
    speech_frames: int


EndpointEvent = SpeechStarted | SpeechConfirmed | SpeechPaused | SpeechResumed | EndOfTurn | SegmentDiscarded


@dataclass(frozen=True)
class EndpointerConfig:
    start_frames: int = 3  # consecutive speech frames to open a segment
    end_frames: int = 30  # silence frames that close the turn
    pause_frames: int = 5  # silence frames after which a speculative transcript starts
    confirm_frames: int = 10  # speech frames in the segment to call it real speech (barge-in)
    min_speech_frames: int = 8  # fewer speech frames than this in a whole segment: discard it
    max_frames: int = 1000  # maximum utterance length
    max_grace_frames: int = 100  # past max_frames, wait this long at most for a gap between words
    preroll_frames: int = 10  # audio kept from before the start decision (onsets are soft)
    tail_frames: int = 10  # silence kept after the last speech frame

    def __post_init__(self) -> None:
        if self.pause_frames >= self.end_frames:
            raise ValueError("pause_frames must be shorter than end_frames")
        if min(self.start_frames, self.end_frames, self.confirm_frames, self.max_frames) < 1:
            raise ValueError("frame counts must be positive")

    @classmethod
    def from_ms(
        cls,
        *,
        start_ms: int,
        end_ms: int,
        pause_ms: int,
        confirm_ms: int,
        min_speech_ms: int,
        max_utterance_s: float,
        preroll_ms: int = 200,
        tail_ms: int = 200,
    ) -> EndpointerConfig:
        end = ms_to_frames(end_ms)
        return cls(
            start_frames=ms_to_frames(start_ms),
            end_frames=end,
            pause_frames=min(ms_to_frames(pause_ms), end - 1),
            confirm_frames=ms_to_frames(confirm_ms),
            min_speech_frames=ms_to_frames(min_speech_ms),
            max_frames=ms_to_frames(max_utterance_s * 1000),
            preroll_frames=ms_to_frames(preroll_ms),
            tail_frames=ms_to_frames(tail_ms),
        )


class Endpointer:
    """Turn detector fed one frame at a time; at most one event per frame.

    Frame indices count from 0 for the first frame pushed, so "within N ms" is a difference of
    indices times 20 ms.
    """

    def __init__(self, config: EndpointerConfig | None = None) -> None:
        self.config = config or EndpointerConfig()
        self._index = -1
        self._preroll: collections.deque[Int16Array] = collections.deque(maxlen=self.config.preroll_frames)
        self._run = 0  # consecutive speech frames while idle
        self._pending: list[Int16Array] = []
        self.reset()

    def reset(self) -> None:
        """Forget the current segment (after our own prompt, or when a turn is handled elsewhere)."""
        self.in_segment = False
        self._buf: list[Int16Array] = []
        self._start_frame = -1
        self._last_speech = -1
        self._speech_frames = 0
        self._silence = 0
        self._paused = False
        self._confirmed = False
        self._recent = 0  # speech frames since the last pause: a click before a pause doesn't add up
        self._hold: int | None = None  # this pause's hangover, when the loop set one from the transcript
        self._run = 0
        self._pending = []

    @property
    def frame_index(self) -> int:
        return self._index

    @property
    def segment_start(self) -> int:
        """First speech frame of the open segment (-1 when none is open)."""
        return self._start_frame if self.in_segment else -1

    @property
    def speech_frames(self) -> int:
        return self._speech_frames

    def push(self, pcm: Int16Array, speech: bool) -> EndpointEvent | None:
        self._index += 1
        i = self._index
        cfg = self.config
        if not self.in_segment:
            if speech:
                self._run += 1
                self._pending.append(pcm)
            else:
                for f in self._pending:
                    self._preroll.append(f)
                self._pending = []
                self._run = 0
                self._preroll.append(pcm)
                return None
            if self._run < cfg.start_frames:
                return None
            self.in_segment = True
            self._start_frame = i - self._run + 1
            self._buf = [*self._preroll, *self._pending]
            self._preroll.clear()
            self._pending = []
            self._speech_frames = self._run
            self._recent = self._run
            self._last_speech = i
            self._run = 0
            if self._recent >= cfg.confirm_frames:
                self._confirmed = True
            return SpeechStarted(self._start_frame)

        self._buf.append(pcm)
        if speech:
            self._speech_frames += 1
            self._recent += 1
            self._last_speech = i
            resumed = self._paused
            self._silence = 0
            self._paused = False
            self._hold = None
            if not self._confirmed and self._recent >= cfg.confirm_frames:
                self._confirmed = True
                return SpeechConfirmed(i, self._start_frame)
            if resumed:
                return SpeechResumed(i)
        else:
            self._silence += 1
            if self._silence >= self.config.pause_frames:
                self._recent = 0
        length = i - self._start_frame + 1
        if length >= cfg.max_frames and (not speech or length >= cfg.max_frames + cfg.max_grace_frames):
            # a long turn ends in a gap between words, never mid-word (unless there is no gap at all)
            return self._finish(i, "max_length")
        if not speech:
            if self._silence >= (self._hold if self._hold is not None else cfg.end_frames):
                return self._finish(i, "silence")
            if self._silence == cfg.pause_frames and self._speech_frames >= cfg.min_speech_frames:
                self._paused = True
                return SpeechPaused(i, self._audio(), self._speech_frames)
        return None

    @property
    def silence_frames(self) -> int:
        """Silence frames since the last speech frame of the open segment (0 when none is open)."""
        return self._silence if self.in_segment else 0

    def hold(self, frames: int | None) -> None:
        """Set how much silence ends the current pause (a transcript that reads open waits longer,
        a finished one less); ``None`` goes back to ``end_frames``. Speech resuming clears it."""
        if self.in_segment:
            self._hold = max(1, frames) if frames is not None else None

    def end_now(self) -> EndpointEvent | None:
        """Close the open segment at once (the transcript already reads as a finished sentence)."""
        if not self.in_segment or self._silence == 0:
            return None
        return self._finish(self._index, "silence")

    def _audio(self) -> Int16Array:
        keep = len(self._buf) - max(0, self._silence - self.config.tail_frames)
        if not self._buf or keep <= 0:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._buf[:keep]).astype(np.int16, copy=False)

    def _finish(self, i: int, reason: Literal["silence", "max_length"]) -> EndpointEvent:
        speech_frames = self._speech_frames
        if speech_frames < self.config.min_speech_frames:
            self.reset()
            return SegmentDiscarded(i, speech_frames)
        event = EndOfTurn(
            frame=i,
            start_frame=self._start_frame,
            last_speech_frame=self._last_speech,
            audio=self._audio(),
            speech_frames=speech_frames,
            reason=reason,
        )
        self.reset()
        return event
