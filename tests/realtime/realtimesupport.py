"""Test doubles for the Realtime bridge: an in-memory μ-law media port and a call session over a real store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ari_app.media.errors import EndpointClosed
from ari_app.realtime.protocol import FRAME_BYTES
from ari_app.session import CallInfo
from ari_app.settings import BrainSettings, Settings
from models.store import CallStore


class FakeUtterance:
    """Plays only when told to (``ScriptedMedia.advance``), unless the media autoplays."""

    def __init__(self, data: bytes, autoplay: bool) -> None:
        self.data = data
        self.frames_total = -(-len(data) // FRAME_BYTES)
        self.frames_sent = self.frames_total if autoplay else 0
        self.cancelled = False
        self._done = asyncio.Event()
        if autoplay:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self.cancelled = True
        self._done.set()

    def play_frames(self, n: int) -> int:
        take = min(n, self.frames_total - self.frames_sent)
        self.frames_sent += take
        if self.frames_sent == self.frames_total:
            self._done.set()
        return take

    async def wait(self) -> bool:
        await self._done.wait()
        return not self.cancelled


class ScriptedMedia:
    """``read_payload`` hands out scripted caller frames, then waits (as a silent line would) until
    ``hang_up``; ``play_ulaw`` records agent audio; ``flush`` counts barge-ins."""

    def __init__(self, frames: list[bytes] | None = None, *, autoplay: bool = True) -> None:
        self.frames = list(frames or [])
        self.autoplay = autoplay
        self.played: list[bytes] = []
        self.utterances: list[FakeUtterance] = []
        self.flushes = 0
        self.frames_read = 0
        self._hung_up = asyncio.Event()
        self._played_changed = asyncio.Event()

    async def read_payload(self) -> bytes:
        if self.frames:
            self.frames_read += 1
            await asyncio.sleep(0)
            return self.frames.pop(0)
        await self._hung_up.wait()
        raise EndpointClosed("hung up")

    def hang_up(self) -> None:
        self._hung_up.set()

    def play_ulaw(self, payload: bytes) -> FakeUtterance:
        self.played.append(bytes(payload))
        utt = FakeUtterance(bytes(payload), self.autoplay)
        self.utterances.append(utt)
        self._played_changed.set()
        return utt

    def flush(self) -> int:
        self.flushes += 1
        dropped = 0
        for utt in self.utterances:
            if not utt.done:
                dropped += utt.frames_total - utt.frames_sent
                utt.cancel()
        return dropped

    def advance(self, frames: int) -> None:
        """Send ``frames`` 20 ms frames of queued agent audio, in order, as the RTP pacer would."""
        for utt in self.utterances:
            if frames <= 0:
                break
            if not utt.done:
                frames -= utt.play_frames(frames)

    @property
    def played_bytes(self) -> bytes:
        return b"".join(self.played)

    async def wait_played(self, nbytes: int, within_s: float = 5.0) -> None:
        async with asyncio.timeout(within_s):
            while len(self.played_bytes) < nbytes:
                self._played_changed.clear()
                await self._played_changed.wait()


@dataclass
class FakeCallSession:
    media: Any
    store: CallStore
    info: CallInfo
    settings: Settings = field(default_factory=Settings)
    control: Any = None
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


def brain_settings(base_url: str, **overrides: Any) -> BrainSettings:
    values: dict[str, Any] = {
        "mode": "realtime",
        "openai_base_url": base_url,
        "openai_api_key": "sk-test-not-a-secret",
        "realtime_voice": "marin",
        "step_timeout_s": 3.0,
    }
    values.update(overrides)
    return BrainSettings.model_validate(values)


def bridge_tasks() -> list[asyncio.Task[Any]]:
    """Tasks the bridge started that are still alive (they are all named ``realtime-…``)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("realtime-") and not t.done()]


def ulaw_frames(n: int, seed: int = 7) -> list[bytes]:
    """Distinct, non-silent μ-law frames, so a lost, doubled or reordered frame shows."""
    out = []
    for i in range(n):
        out.append(bytes(((seed * 31 + i * 17 + j * 7) % 251) for j in range(FRAME_BYTES)))
    return out
