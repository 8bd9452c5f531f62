"""Speech-to-text engines behind one small interface.

Input is what the media plane gives us: PCM16 at 8 kHz. Whisper wants float32 at 16 kHz, so each
engine converts at its edge. Transcripts that look like Whisper inventing words on silence or noise
(high no-speech probability together with a low average log-probability) come back with empty text
and a ``rejected`` reason, so callers never act on a hallucination.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import soxr

from ari_app.speech.errors import SpeechConfigError, SpeechEngineError
from ari_app.speech.pool import InferencePool
from ari_app.speech.vad import voiced_frames

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]

# Asked for instead of a language code: let the model detect it (multilingual models only).
AUTO_LANGUAGE = "auto"

MONTHS = (
    "January February March April May June July August September October November December".split()
)

# The booking words tiny.en misses on 8 kHz callers, as faster-whisper ``hotwords`` for English
# decodes: flite callers' "the Easter weekend" came out as "the start weekend", "New Year's Eve" as
# "New Year leave", "standard queen" as "standard green". Hotwords sit before the hotel prompt as
# plain words, so the model does not continue them as a sentence (what a word list in the prompt
# did). Measured (bench/dialog.py lines x 4 flite voices, 272 decodes): lines off 106 -> 102 (WER
# 10.4 -> 10.5 %), 98 (10.1 %) with the hotel's room names (hotel_hotwords); holiday lines 6/8 ->
# 8/8; hotel phrases of test_accuracy_flite clean 2.0 -> 3.1 %, 15 dB noisy 16.3 -> 15.3 % (1 word).
HOLIDAY_HOTWORDS = ("Easter weekend", "Christmas Eve", "New Year's Eve", "Thanksgiving")
BOOKING_HOTWORDS = ("confirmation code",)
HOTWORDS_EN = ", ".join((*HOLIDAY_HOTWORDS, *BOOKING_HOTWORDS))


def hotel_hotwords(room_type_names: Sequence[str]) -> str:
    """The hotwords with this hotel's own room-type names ("King Deluxe") among them: callers ask
    for rooms by the names the operator reads out, and those are the hotel's, not a fixed list."""
    rooms = [n.strip().lower() for n in dict.fromkeys(room_type_names) if n.strip()]
    return ", ".join((*HOLIDAY_HOTWORDS, *rooms, *BOOKING_HOTWORDS))


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration_s: float
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    rejected: str = ""  # why the text was dropped ("" = accepted)
    language_probability: float = 1.0  # the model's confidence in ``language``; 1.0 when it was given
    looped: bool = False  # Whisper repeated itself and the repeat was dropped

    @property
    def empty(self) -> bool:
        """No word in it: Whisper's "." or "..." on a hum is nothing the brain should hear."""
        return not any(ch.isalnum() for ch in self.text)


class SttEngine(Protocol):
    name: str

    async def transcribe(self, pcm8k: Int16Array, language: str | None = None) -> Transcript: ...


def to_16k_float(pcm8k: Int16Array) -> Float32Array:
    """8 kHz PCM16 to the 16 kHz float32 Whisper expects (one-shot: a whole utterance at a time)."""
    x = np.asarray(pcm8k, dtype=np.int16).astype(np.float32) / 32768.0
    if x.size == 0:
        return x
    out: Float32Array = soxr.resample(x, 8000, 16000, quality="HQ").astype(np.float32, copy=False)
    return out


def build_initial_prompt(hotel_name: str, vocabulary: Sequence[str], template: str = "") -> str:
    """Whisper continues its prompt as if it were the previous sentences of the same talk, so the
    prompt should read like a caller speaking, in full sentences: a bare comma-separated word list
    made tiny.en open noisy turns with a hallucinated "Check-in, check-in ..." and cost 2 points of
    WER on the hotel phrases (bench/README.md). ``template`` (the language file's ``stt.prompt``,
    ``{hotel}`` filled in) carries the natural sentences; ``vocabulary`` words not already in it
    follow as one more sentence."""
    hotel = hotel_name or "the hotel"
    head = template.format(hotel=hotel).strip() if template else f"A guest calls {hotel}."
    lowered = head.lower()
    extra = [w for w in dict.fromkeys(v.strip() for v in vocabulary) if w and w.lower() not in lowered]
    return f"{head} {', '.join(extra)}." if extra else head


def _windowed_model_class() -> type[Any]:
    """A WhisperModel whose encoder sees a window just long enough for the utterance.

    Whisper pads every input to 30 s and the encoder cost grows with the window, not with the
    speech: for a 2 s phone turn tiny.en spent ~220 of ~300 ms encoding 28 s of padding. CTranslate2
    accepts shorter inputs, so :meth:`encode` cuts the zero padding that faster-whisper added back to
    the per-call window (thread-local: the model is shared by all workers). Measured on the hotel
    phrases: a 10 s window gives the same WER as 30 s at ~40 % of the time (bench/README.md).
    """
    from faster_whisper import WhisperModel

    class WindowedWhisperModel(WhisperModel):  # type: ignore[misc]
        window = threading.local()

        def encode(self, features: Any) -> Any:
            frames = int(getattr(self.window, "frames", 0) or 0)
            if frames and features.shape[-1] > frames:
                features = features[..., :frames]
            return super().encode(features)

    return WindowedWhisperModel


class WhisperStt:
    """faster-whisper (CTranslate2) on CPU, loaded once and shared by all calls."""

    PAD_S = 0.3  # silence around the turn: Whisper misreads a first word that starts at sample 0

    name = "whisper"

    def __init__(
        self,
        model: str,
        pool: InferencePool,
        *,
        compute_type: str = "int8",
        beam_size: int = 1,
        language: str | None = "en",
        initial_prompt: str | None = None,
        no_speech_threshold: float = 0.6,
        logprob_threshold: float = -1.0,
        cpu_threads: int = 0,
        window_s: float = 10.0,
        min_voiced_ms: int = 160,
        vad_aggressiveness: int = 2,
        energy_gate_dbfs: float = -45.0,
        hotwords: str | None = HOTWORDS_EN,
    ) -> None:
        self.pool = pool
        self.hotwords = hotwords or None  # English words: only passed to English decodes
        self.min_voiced_frames = -(-min_voiced_ms // 20) if min_voiced_ms > 0 else 0
        self.vad_aggressiveness = vad_aggressiveness
        self.energy_gate_dbfs = energy_gate_dbfs
        self.window_frames = int(math.ceil(min(max(window_s, 0.0), 30.0))) * 100 if window_s else 0
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.model_ref = model
        path = Path(model)
        looks_like_path = "/" in model or model.startswith(".") or path.exists()
        if looks_like_path and not path.exists():
            raise SpeechConfigError(f"speech.whisper_model: {model} does not exist")
        if looks_like_path and not (path / "model.bin").is_file():
            raise SpeechConfigError(
                f"speech.whisper_model: {model} is not a CTranslate2 Whisper model directory (no model.bin)"
            )
        try:
            self._model = _windowed_model_class()(
                model,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=pool.workers,
                local_files_only=True,  # never download at run time
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with a terse message
            raise SpeechConfigError(f"speech.whisper_model: cannot load {model}: {exc}") from exc
        self.multilingual = bool(getattr(self._model.model, "is_multilingual", False))
        self.language = language if self.multilingual else "en"
        self.sample_rate = 16000

    def check(self) -> None:
        """Run one real decode so a model that loads but cannot infer fails at start-up."""
        try:
            self._decode(np.zeros(16000, dtype=np.float32), self.language)  # past the VAD gate on purpose
        except Exception as exc:
            raise SpeechConfigError(f"speech.whisper_model: {self.model_ref} cannot transcribe: {exc}") from exc

    def _window_for(self, samples16k: int) -> int:
        """Encoder frames (10 ms each) for this many samples: the configured window, grown in whole
        seconds for a longer turn; 0 (stock 30 s) when windowing is off or the turn needs it all."""
        if not self.window_frames:
            return 0
        content = -(-(samples16k // 160 + 1) // 100) * 100
        frames = max(self.window_frames, content)
        return frames if frames < 3000 else 0

    def _run(self, pcm8k: Int16Array, language: str | None) -> Transcript:
        audio = to_16k_float(pcm8k)
        duration = audio.size / 16000
        if audio.size < 1600:  # under 100 ms: nothing Whisper could read
            return Transcript("", language or "", duration, 1.0, 0.0, "too short")
        if self.min_voiced_frames and (
            voiced_frames(pcm8k, self.vad_aggressiveness, self.energy_gate_dbfs) < self.min_voiced_frames
        ):
            return Transcript("", language or "", duration, 1.0, 0.0, "no voice")
        return self._decode(audio, language)

    def _decode(self, audio: Float32Array, language: str | None) -> Transcript:
        first = self._decode_once(audio, language, self._window_for(audio.size + int(2 * self.PAD_S * 16000)))
        if self.window_frames and (first.looped or looks_looped(first.text)):
            # the short window is what makes Whisper loop in noise; the stock 30 s window rarely does,
            # so only a transcript that looped pays for a second, full-window decode
            second = self._decode_once(audio, language, 0)
            if not second.looped:
                return second
        return first

    def _decode_once(self, audio: Float32Array, language: str | None, window: int) -> Transcript:
        duration = audio.size / 16000
        pad = np.zeros(int(self.PAD_S * 16000), dtype=np.float32)
        audio = np.concatenate([pad, audio, pad])
        self._model.window.frames = window
        segments, info = self._model.transcribe(
            audio,
            language=language if self.multilingual else "en",
            beam_size=self.beam_size,
            best_of=1,
            temperature=0.0,  # no fallback re-decodes: each costs a full pass on a CPU
            initial_prompt=self.initial_prompt,
            hotwords=self.hotwords if (language if self.multilingual else "en") == "en" else None,
            condition_on_previous_text=False,
            without_timestamps=True,
            no_speech_threshold=self.no_speech_threshold,
            log_prob_threshold=self.logprob_threshold,
            vad_filter=False,  # the endpointer already cut the turn; Silero would cost a second pass
        )
        texts: list[str] = []
        logprobs: list[float] = []
        no_speech = 0.0
        for seg in segments:
            no_speech = max(no_speech, float(seg.no_speech_prob))
            hallucination = (
                seg.no_speech_prob > self.no_speech_threshold and seg.avg_logprob < self.logprob_threshold
            )
            if hallucination:
                continue
            texts.append(seg.text.strip())
            logprobs.append(float(seg.avg_logprob))
        joined = " ".join(t for t in texts if t).strip()
        text = drop_repeats(joined)
        looped = len(text) < len(joined) - 1
        if not any(ch.isalnum() for ch in text):
            text = ""  # punctuation only ("." on a hum)
        avg = float(np.mean(logprobs)) if logprobs else -math.inf
        lang = info.language or (language or "")
        prob = 1.0 if language else float(getattr(info, "language_probability", 0.0) or 0.0)
        if not text:
            return Transcript("", lang, duration, no_speech, avg if logprobs else 0.0, "no speech", prob)
        return Transcript(text, lang, duration, no_speech, avg, language_probability=prob, looped=looped)

    async def transcribe(self, pcm8k: Int16Array, language: str | None = None) -> Transcript:
        try:
            # AUTO: no fixed language, so Whisper detects it (``_decode`` pins English-only models)
            lang = None if language == AUTO_LANGUAGE else (language or self.language)
            return await self.pool.run(self._run, pcm8k, lang)
        except SpeechConfigError:
            raise
        except Exception as exc:
            raise SpeechEngineError(self.name, f"transcription failed: {exc}") from exc


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def drop_repeats(text: str) -> str:
    """Collapse a sentence Whisper repeated back to back ("On July 12? On July 12?").

    Looping on its own output is Whisper's known failure after the speech ends, and it showed on
    about 1 noisy hotel phrase in 20; a caller saying the very same sentence twice in one breath is
    rarer, and dropping that repeat loses no meaning. Phrase loops inside a sentence are
    :func:`collapse_loops`'s job."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if out and sentence.strip().lower() == out[-1].strip().lower():
            continue
        out.append(sentence)
    return collapse_loops(" ".join(out))


_SPOKEN_DIGITS = frozenset("zero oh one two three four five six seven eight nine".split())


def _norm_word(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def collapse_loops(text: str, max_n: int = 8) -> str:
    """Drop a run of words that repeats the run just before it: a phrase of 3+ words said twice in a
    row, or a 1-2 word run said three times ("the the the", "for two, for two, for two"). In noise
    with a short window Whisper loops on phrases, not only on whole sentences (issue 12: 66
    repeated-phrase errors). People do repeat a word or two ("very, very"), so shorter runs need
    three in a row."""
    words = text.split()
    norm = [_norm_word(w) for w in words]
    i = 0
    out: list[int] = []  # indices of kept words
    while i < len(words):
        dropped = False
        for n in range(min(max_n, len(out)), 0, -1):
            if i + n > len(words):
                continue
            prev = [norm[k] for k in out[-n:]]
            if [norm[k] for k in range(i, i + n)] != prev or not any(prev):
                continue
            numeric = all(w.isdigit() or w in _SPOKEN_DIGITS for w in prev)  # "five five five" is a number
            if numeric:
                continue
            if n >= 3 or (len(out) >= 2 * n and [norm[k] for k in out[-2 * n : -n]] == prev):
                i += n
                dropped = True
                break
        if not dropped:
            out.append(i)
            i += 1
    if len(out) == len(words):
        return text
    kept = " ".join(words[k] for k in out)
    # the dropped run carried the sentence's end: keep the full stop/question mark the loop ended on
    end = words[-1][-1] if words[-1][-1:] in ".?!" else ""
    return kept if not end or kept.endswith((".", "?", "!")) else kept.rstrip(",;:") + end


def looks_looped(text: str) -> bool:
    """Still repetitive after collapsing (a loop with variations): worth a second decode."""
    words = [_norm_word(w) for w in text.split()]
    if len(words) < 8:
        return False
    import zlib

    raw = " ".join(words).encode()
    return len(raw) / max(1, len(zlib.compress(raw))) > 2.4


def wav_bytes(pcm: Int16Array, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()


class OpenAiStt:
    """OpenAI's ``audio.transcriptions`` (or any server speaking that wire protocol)."""

    name = "openai-stt"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        language: str | None = "en",
        prompt: str | None = None,
        timeout_s: float = 15.0,
        client: Any | None = None,
    ) -> None:
        from openai import AsyncOpenAI

        if client is None and not api_key:
            raise SpeechConfigError("speech.openai_api_key is required for stt_engine = 'openai'")
        self.model = model
        self.language = language
        self.prompt = prompt
        self._client = client or AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    async def transcribe(self, pcm8k: Int16Array, language: str | None = None) -> Transcript:
        duration = len(pcm8k) / 8000
        if len(pcm8k) < 800:
            return Transcript("", language or self.language or "", duration, 1.0, 0.0, "too short")
        kwargs: dict[str, Any] = {"model": self.model, "file": ("turn.wav", wav_bytes(pcm8k, 8000), "audio/wav")}
        lang = language or self.language
        if lang:
            kwargs["language"] = lang
        if self.prompt:
            kwargs["prompt"] = self.prompt
        try:
            result = await self._client.audio.transcriptions.create(**kwargs)
        except Exception as exc:
            raise SpeechEngineError(self.name, f"transcription request failed: {exc}", transient=True) from exc
        text = str(getattr(result, "text", "") or "").strip()
        return Transcript(text, lang or "", duration, 0.0, 0.0, "" if text else "no speech")

    async def aclose(self) -> None:
        await self._client.close()
