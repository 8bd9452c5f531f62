"""Text-to-speech engines, speaking sentence by sentence as the reply text arrives.

The reply of a brain comes as a stream of text chunks. :class:`SentenceSplitter` cuts complete
sentences out of it as soon as they are complete, and :meth:`SentenceTts.speak` synthesises each one
while later text is still being produced, so the caller hears the first sentence after one sentence's
synthesis time instead of after the whole reply. Every engine returns PCM16 at 8 kHz, ready for the
media plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import soxr

from ari_app.speech.errors import SpeechConfigError, SpeechEngineError
from ari_app.speech.level import level_speech
from ari_app.speech.pool import InferencePool
from ari_app.speech.sentence_cache import SentenceCache

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]
OUT_RATE = 8000

# A sentence ends at . ! ? (or …) followed by whitespace; a number like "3.5" or "Dr. " mid-word is not
# an end because the next character is not whitespace or the word is a known abbreviation.
_END = re.compile(r"([.!?…]+[\"')\]]*)(\s+)")
_CHUNK_END = re.compile(r"[.!?…]+[\"')\]]*$")
_NUMBER_DOT = re.compile(r"[\d.,]*\d\.")  # "3." may go on as "3.5"
_ABBREV = {"mr.", "mrs.", "ms.", "dr.", "st.", "no.", "vs.", "e.g.", "i.e.", "approx.", "a.m.", "p.m."}


class SentenceSplitter:
    """Incremental sentence cutter: ``feed`` text chunks, get back the sentences completed so far."""

    def __init__(self, max_chars: int = 240) -> None:
        self._buf = ""
        self.max_chars = max_chars

    def feed(self, chunk: str) -> list[str]:
        self._buf += chunk
        out: list[str] = []
        start = 0
        for m in _END.finditer(self._buf):
            candidate = self._buf[start : m.end(1)].strip()
            last_word = candidate.rsplit(None, 1)[-1].lower() if candidate else ""
            if last_word in _ABBREV:
                continue
            if candidate:
                out.append(candidate)
            start = m.end()
        self._buf = self._buf[start:]
        # A brain that yields whole sentences without a trailing space ("Certainly.") would otherwise
        # hold its first sentence back until the next chunk arrives, i.e. until the brain thinks again.
        tail = self._buf.strip()
        if tail and _CHUNK_END.search(tail):
            last_word = tail.rsplit(None, 1)[-1].lower()
            if last_word not in _ABBREV and not _NUMBER_DOT.fullmatch(last_word):
                out.append(tail)
                self._buf = ""
        # a runaway sentence with no full stop is cut at a comma/space so audio still starts
        while len(self._buf) > self.max_chars:
            cut = max(self._buf.rfind(", ", 0, self.max_chars), self._buf.rfind(" ", 0, self.max_chars))
            if cut <= 0:
                cut = self.max_chars
            out.append(self._buf[: cut + 1].strip())
            self._buf = self._buf[cut + 1 :]
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf.strip(), ""
        return [rest] if rest else []


_GLUED = re.compile(r"[.!?…][\"')\]]*$")


def needs_space(before: str, after: str) -> bool:
    """A brain that yields whole sentences ("adults." then "I have") leaves no space between them;
    a token stream ("Hel", "lo") must not get one. Only a sentence end followed by a capital is
    treated as a missing space, so "3." + "5" and "e.g." + "the" stay as they are."""
    return bool(before) and bool(after) and bool(_GLUED.search(before)) and after[0].isupper()


def join_chunks(parts: Iterable[str]) -> str:
    """The reply text as the caller should read it: chunks concatenated, sentences spaced."""
    out = ""
    for part in parts:
        out += (" " if needs_space(out, part) else "") + part
    return out.strip()


def split_sentences(text: str) -> list[str]:
    s = SentenceSplitter()
    return [*s.feed(text), *s.flush()]


def float_to_8k_int16(
    audio: npt.NDArray[np.floating[Any]], rate: int, gain: float = 1.0, level_dbfs: float | None = None
) -> Int16Array:
    """To the line's rate; with ``level_dbfs`` the speech is set to that RMS (peaks limited,
    speech/level.py), else scaled by ``gain``."""
    x = np.asarray(audio, dtype=np.float32)
    if rate != OUT_RATE and x.size:
        x = soxr.resample(x, rate, OUT_RATE, quality="HQ")
    if level_dbfs is not None:
        return level_speech(x, level_dbfs)
    out: Int16Array = np.clip(x * (gain * 32767.0), -32768, 32767).astype(np.int16)
    return out


class TtsEngine(Protocol):
    name: str

    @property
    def voice_id(self) -> str: ...

    async def synthesize(self, text: str) -> Int16Array: ...

    def speak(self, text_stream: AsyncIterator[str]) -> AsyncGenerator[Int16Array, None]: ...


class SentenceTts:
    """Streaming on top of a one-sentence ``synthesize``; subclasses provide that and ``voice_id``."""

    name = "tts"
    # set by SpeechEngines.load: reply sentences said before are replayed, not synthesised again
    sentence_cache: SentenceCache | None = None

    @property
    def voice_id(self) -> str:
        raise NotImplementedError

    async def synthesize(self, text: str) -> Int16Array:
        raise NotImplementedError

    async def speak_sentences(self, text_stream: AsyncIterator[str]) -> AsyncGenerator[tuple[str, Int16Array], None]:
        """Like :meth:`speak` but with the sentence each audio chunk says (for barge-in bookkeeping)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        async def pump() -> None:
            splitter = SentenceSplitter()
            last = ""
            try:
                async for chunk in text_stream:
                    if needs_space(last, chunk):
                        chunk = " " + chunk
                    last = chunk or last
                    for sentence in splitter.feed(chunk):
                        queue.put_nowait(sentence)
                for sentence in splitter.flush():
                    queue.put_nowait(sentence)
            finally:
                queue.put_nowait(None)

        # The reader runs beside synthesis so a slow brain and a slow voice overlap; it is owned
        # here, cancelled and awaited when the consumer stops early (barge-in).
        reader = asyncio.create_task(pump(), name="tts-text-reader")
        try:
            first = True
            while (sentence := await queue.get()) is not None:
                if not _speakable(sentence):
                    continue
                # the caller waits for the first sentence's synthesis: a long one starts with its
                # first clause, and the rest is synthesised while that clause plays
                pieces = split_first_clause(sentence) if first else [sentence]
                first = False
                for piece in pieces:
                    yield piece, await self._sentence_audio(piece)
            await reader  # re-raise a failure of the text source
        finally:
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _sentence_audio(self, text: str) -> Int16Array:
        cache = self.sentence_cache
        if cache is None:
            return await self.synthesize(text)
        return await cache.get(self.voice_id, text, self.synthesize)

    async def speak(self, text_stream: AsyncIterator[str]) -> AsyncGenerator[Int16Array, None]:
        async for _sentence, pcm in self.speak_sentences(text_stream):
            yield pcm


_CLAUSE = re.compile(r"(?<=[,;:])\s+")


def split_first_clause(sentence: str, min_words: int = 3, long_words: int = 9) -> list[str]:
    """A long sentence cut after its first clause ("Check-out is at eleven, and late check-out…" →
    "Check-out is at eleven," + "and late check-out…"); a short one, or one with no clause break
    after ``min_words`` words, is kept whole."""
    if len(sentence.split()) < long_words:
        return [sentence]
    for m in _CLAUSE.finditer(sentence):
        head, tail = sentence[: m.start()].strip(), sentence[m.end() :].strip()
        if len(head.split()) >= min_words and len(tail.split()) >= min_words:
            return [head, tail]
    return [sentence]


def _speakable(sentence: str) -> bool:
    return any(ch.isalnum() for ch in sentence)


async def text_chunks(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


class PiperTts(SentenceTts):
    """Piper (onnxruntime) voice, loaded once; synthesis runs in the shared inference pool."""

    name = "piper"

    def __init__(
        self,
        model_path: str,
        config_path: str | None,
        pool: InferencePool,
        *,
        gain: float = 0.5,
        level_dbfs: float | None = None,
    ) -> None:
        from piper import PiperVoice

        self.pool = pool
        self.gain = gain
        self.level_dbfs = level_dbfs
        model = Path(model_path)
        config = Path(config_path) if config_path else Path(f"{model_path}.json")
        if not model.is_file():
            raise SpeechConfigError(f"speech.piper_model: {model} does not exist")
        if not config.is_file():
            raise SpeechConfigError(f"speech.piper_config: {config} does not exist (Piper needs the .onnx.json)")
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise SpeechConfigError(f"speech.piper_config: {config} is not valid JSON: {exc}") from exc
        try:
            self._voice = PiperVoice.load(str(model), config_path=str(config))
        except Exception as exc:
            raise SpeechConfigError(f"speech.piper_model: cannot load {model}: {exc}") from exc
        self.sample_rate = int(self._voice.config.sample_rate)
        # the level is part of the voice: a cached prompt rendered at another level is not reused
        self._voice_id = f"piper:{model.stem}" + (f"@{level_dbfs:g}dBFS" if level_dbfs is not None else "")

    @property
    def voice_id(self) -> str:
        return self._voice_id

    def check(self) -> None:
        """One real synthesis at start-up, so a model that loads but cannot run fails there."""
        try:
            pcm = self._render("OK.")
        except Exception as exc:
            raise SpeechConfigError(f"speech.piper_model: {self._voice_id} cannot synthesise: {exc}") from exc
        if pcm.size == 0:
            raise SpeechConfigError(f"speech.piper_model: {self._voice_id} produced no audio")

    def _render(self, text: str) -> Int16Array:
        parts = [chunk.audio_float_array for chunk in self._voice.synthesize(text)]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return float_to_8k_int16(np.concatenate(parts), self.sample_rate, self.gain, self.level_dbfs)

    async def synthesize(self, text: str) -> Int16Array:
        try:
            return await self.pool.run(self._render, text)
        except Exception as exc:
            raise SpeechEngineError(self.name, f"synthesis failed: {exc}") from exc


class OpenAiTts(SentenceTts):
    """OpenAI's ``audio.speech`` with raw PCM output (24 kHz, 16-bit, mono), resampled to 8 kHz."""

    name = "openai-tts"
    PCM_RATE = 24000

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        voice: str,
        gain: float = 1.0,
        level_dbfs: float | None = None,
        timeout_s: float = 15.0,
        client: Any | None = None,
    ) -> None:
        from openai import AsyncOpenAI

        if client is None and not api_key:
            raise SpeechConfigError("speech.openai_api_key is required for tts_engine = 'openai'")
        self.model = model
        self.voice = voice
        self.gain = gain
        self.level_dbfs = level_dbfs
        self._client = client or AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    @property
    def voice_id(self) -> str:
        return f"openai:{self.model}:{self.voice}" + (
            f"@{self.level_dbfs:g}dBFS" if self.level_dbfs is not None else ""
        )

    async def synthesize(self, text: str) -> Int16Array:
        try:
            async with self._client.audio.speech.with_streaming_response.create(
                model=self.model, voice=self.voice, input=text, response_format="pcm"
            ) as response:
                data = await response.read()
        except Exception as exc:
            raise SpeechEngineError(self.name, f"speech request failed: {exc}", transient=True) from exc
        if len(data) % 2:
            data = data[:-1]
        pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        return float_to_8k_int16(pcm, self.PCM_RATE, self.gain, self.level_dbfs)

    async def aclose(self) -> None:
        await self._client.close()
