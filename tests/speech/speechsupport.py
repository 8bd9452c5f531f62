"""Speech test doubles: synthetic voice, fake engines, an in-memory MediaPort, a fake CallSession.

Imported as `speechsupport` (the folder is put on sys.path by this folder's conftest.py)."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ari_app.session import CallInfo
from ari_app.settings import Settings, SpeechSettings
from ari_app.speech import SpeechEngines
from ari_app.speech.errors import SpeechEngineError
from ari_app.speech.stt import Transcript
from ari_app.speech.tts import SentenceTts

Int16Array = npt.NDArray[np.int16]
FRAME = 160


def voice(seconds: float, level: float = 0.3, f0: float = 120.0, seed: int = 1) -> Int16Array:
    """A voiced, syllable-modulated harmonic signal that webrtcvad classifies as speech."""
    t = np.arange(int(seconds * 8000)) / 8000
    freq = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t + seed))
    phase = 2 * np.pi * np.cumsum(freq) / 8000
    x = sum((1 / k) * np.sin(k * phase) for k in range(1, 25))
    x = np.asarray(x) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    x = x / np.max(np.abs(x)) * level
    out: Int16Array = (x * 32767).astype(np.int16)
    return out


def silence(seconds: float) -> Int16Array:
    return np.zeros(int(seconds * 8000), dtype=np.int16)


def noise(seconds: float, dbfs: float, seed: int = 0) -> Int16Array:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, int(seconds * 8000)) * 32767 * 10 ** (dbfs / 20)
    out: Int16Array = np.clip(x, -32768, 32767).astype(np.int16)
    return out


def frames(pcm: Int16Array) -> list[Int16Array]:
    n = -(-len(pcm) // FRAME)
    padded = np.zeros(n * FRAME, dtype=np.int16)
    padded[: len(pcm)] = pcm
    return list(padded.reshape(n, FRAME))


# ---- fake engines ----------------------------------------------------------------------------------


class FakeStt:
    """Answers ``text`` for any audio; optionally fails, or blocks until released."""

    name = "fake-stt"

    def __init__(self, text: str = "I would like a double room", fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.calls: list[int] = []  # samples per call
        self.gate: asyncio.Event | None = None

    async def transcribe(self, pcm8k: Int16Array, language: str | None = None) -> Transcript:
        self.calls.append(len(pcm8k))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise SpeechEngineError(self.name, "model crashed")
        return Transcript(self.text, "en", len(pcm8k) / 8000)


class FakeTts(SentenceTts):
    """A tone whose length follows the word count (``frames_per_word`` 20 ms frames per word)."""

    name = "fake-tts"

    def __init__(self, frames_per_word: int = 10, fail: bool = False) -> None:
        self.frames_per_word = frames_per_word
        self.fail = fail
        self.texts: list[str] = []

    @property
    def voice_id(self) -> str:
        return "fake:tone"

    async def synthesize(self, text: str) -> Int16Array:
        self.texts.append(text)
        if self.fail:
            raise SpeechEngineError(self.name, "voice crashed")
        n = max(1, len(text.split())) * self.frames_per_word * FRAME
        return voice(n / 8000, level=0.25, f0=200.0, seed=7)


def make_engines(
    tmp_path: Path, stt: Any | None = None, tts: Any | None = None, **overrides: Any
) -> SpeechEngines:
    settings = SpeechSettings(prompt_cache_dir=str(tmp_path / "prompts"), **overrides)
    return SpeechEngines.load(
        settings, hotel_name="Harbour View Hotel", stt=stt or FakeStt(), voices={"en": tts or FakeTts()}
    )


# ---- in-memory media -------------------------------------------------------------------------------


class MemUtterance:
    def __init__(self, pcm: Int16Array) -> None:
        self.frames = frames(pcm)
        self.frames_sent = 0
        self.cancelled = False
        self._done = asyncio.get_running_loop().create_future()

    async def wait(self) -> None:
        await asyncio.shield(self._done)

    def cancel(self) -> None:
        self.cancelled = True
        if not self._done.done():
            self._done.set_result(False)

    @property
    def done(self) -> bool:
        return self._done.done()


class MemMedia:
    """MediaPort in memory, paced by :meth:`tick`: each tick sends one agent frame and delivers one
    caller frame, exactly what the RTP endpoint does per 20 ms, so counts are in frames."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[Int16Array | None] = asyncio.Queue()
        self.queue: collections.deque[MemUtterance] = collections.deque()
        self.sent: list[tuple[int, bool]] = []  # (tick, voiced)
        self.sent_pcm: list[Int16Array] = []
        self.tick_no = 0
        self.read_count = 0
        self.flushes: list[int] = []
        self.closed = False

    async def read_frame(self) -> Int16Array:
        item = await self.inbound.get()
        if item is None:
            from ari_app.media.errors import EndpointClosed

            self.closed = True
            raise EndpointClosed("closed")
        self.read_count += 1
        return item

    def play(self, pcm: Int16Array) -> MemUtterance:
        utt = MemUtterance(pcm)
        self.queue.append(utt)
        return utt

    def play_ulaw(self, payload: bytes) -> MemUtterance:
        from ari_app.media.g711 import ulaw_decode

        return self.play(ulaw_decode(payload))

    def flush(self) -> int:
        dropped = 0
        self.flushes.append(self.tick_no)
        for utt in self.queue:
            dropped += len(utt.frames) - utt.frames_sent
            utt.cancel()
        self.queue.clear()
        return dropped

    @property
    def is_playing(self) -> bool:
        return any(not u.done for u in self.queue)

    def send_one(self) -> bool:
        while self.queue and self.queue[0].done:
            self.queue.popleft()
        if not self.queue:
            self.sent.append((self.tick_no, False))
            self.sent_pcm.append(np.zeros(FRAME, dtype=np.int16))
            return False
        utt = self.queue[0]
        self.sent_pcm.append(utt.frames[utt.frames_sent])
        utt.frames_sent += 1
        if utt.frames_sent >= len(utt.frames):
            self.queue.popleft()
            utt._done.set_result(True)
        self.sent.append((self.tick_no, True))
        return True

    def voiced_ticks(self) -> list[int]:
        return [t for t, v in self.sent if v]


@dataclass
class FakeStoreCalls:
    turns: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)


class FakeStore:
    def __init__(self) -> None:
        self.rec = FakeStoreCalls()

    async def add_turn(self, call_id: int, role: str, content: str, **kw: Any) -> int:
        self.rec.turns.append({"call_id": call_id, "role": role, "content": content, **kw})
        return len(self.rec.turns)

    async def add_metric(self, call_id: int | None, name: str, value: float, labels: Any = None) -> None:
        self.rec.metrics.append((name, value, labels or {}))


@dataclass
class FakeSession:
    media: Any
    store: Any
    info: CallInfo = field(default_factory=lambda: CallInfo("sess-1", 1, "chan-1"))
    settings: Settings = field(default_factory=Settings)
    control: Any = None
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class Driver:
    """Feeds caller audio one frame per tick and lets the loop react before the next tick."""

    def __init__(self, media: MemMedia) -> None:
        self.media = media

    async def tick(self, frame: Int16Array) -> None:
        self.media.tick_no += 1
        self.media.send_one()
        await self.media.inbound.put(frame)
        for _ in range(10000):
            if self.media.read_count >= self.media.tick_no:
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError("the loop stopped reading caller audio")
        await settle()

    async def feed(self, pcm: Int16Array) -> None:
        for f in frames(pcm):
            await self.tick(f)

    async def until(self, cond: Callable[[], bool], max_ticks: int = 2000) -> int:
        """Feed silence until ``cond`` holds; returns the ticks used."""
        for n in range(max_ticks):
            if cond():
                return n
            await self.tick(np.zeros(FRAME, dtype=np.int16))
        raise AssertionError("condition not reached")


def echo_respond(prefix: str = "You said") -> Callable[[str], AsyncIterator[str]]:
    async def respond(text: str) -> AsyncIterator[str]:
        yield f"{prefix}: {text}. "
        yield "Anything else?"

    return respond
