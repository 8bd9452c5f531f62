"""A recorder attached to a running endpoint: same alignment as one given at construction, owned by it."""

from __future__ import annotations

import random
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import PortAllocator, RtpEndpoint
from ari_app.media.errors import EndpointClosed, MediaError
from ari_app.media.g711 import ulaw_decode
from ari_app.media.recorder import CallRecorder
from ari_app.media.rtp import RtpPacket, build_rtp


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


async def test_given_running_endpoint_when_recorder_attached_then_later_audio_recorded_aligned_and_closed_with_it(
    tmp_path: Path, allocator: PortAllocator, peer_factory: Any, until: Any
) -> None:
    clock = MediaClock(manual=True)
    ep = RtpEndpoint(allocator, clock=clock, jitter_depth=3, rng=random.Random(5))
    await ep.start()
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    early = bytes([0x05]) * 160
    for k in range(5):  # before the recorder exists: only what is still buffered reaches the file
        asterisk.send(build_rtp(RtpPacket(0, k, 160 * k, 9, early)), ("127.0.0.1", ep.local_port))
        await until(lambda k=k: ep.stats.packets_in == k + 1)
        clock.tick()
    path = tmp_path / "attached.wav"
    rec = CallRecorder(path)
    ep.attach_recorder(rec)
    assert ep.recorder is rec
    caller = [bytes([0x10 + k]) * 160 for k in range(10)]
    agent = b"".join(bytes([0x90 + k]) * 160 for k in range(10))
    ep.play_ulaw(agent)
    for k in range(10):
        seq = 5 + k
        asterisk.send(build_rtp(RtpPacket(0, seq, 160 * seq, 9, caller[k])), ("127.0.0.1", ep.local_port))
        await until(lambda seq=seq: ep.stats.packets_in == seq + 1)
        clock.tick()
    for _ in range(4):
        clock.tick()
    await ep.close()
    assert rec.closed  # the endpoint owns an attached recorder like a constructor one
    data = _read(path)
    left, right = data[:, 0].reshape(-1, 160), data[:, 1].reshape(-1, 160)
    early_pcm = ulaw_decode(early)
    # frames still in the jitter buffer at attach time are heard (and recorded) afterwards; the rest not
    assert sum(np.array_equal(row, early_pcm) for row in left) <= 2
    first = next(i for i in range(len(left)) if np.array_equal(left[i], ulaw_decode(caller[0])))
    for k in range(10):
        assert np.array_equal(left[first + k], ulaw_decode(caller[k]))
        assert np.array_equal(right[first + k], ulaw_decode(agent[160 * k : 160 * (k + 1)]))


async def test_given_endpoint_with_recorder_when_second_attached_then_refused(
    tmp_path: Path, allocator: PortAllocator
) -> None:
    clock = MediaClock(manual=True)
    ep = RtpEndpoint(allocator, recorder=CallRecorder(tmp_path / "a.wav"), clock=clock)
    await ep.start()
    second = CallRecorder(tmp_path / "b.wav")
    with pytest.raises(MediaError, match="already records"):
        ep.attach_recorder(second)
    second.close()
    await ep.close()


async def test_given_closed_endpoint_when_recorder_attached_then_refused_and_recorder_closed(
    tmp_path: Path, allocator: PortAllocator
) -> None:
    ep = RtpEndpoint(allocator, clock=MediaClock(manual=True))
    await ep.start()
    await ep.close()
    rec = CallRecorder(tmp_path / "late.wav")
    with pytest.raises(EndpointClosed):
        ep.attach_recorder(rec)
    assert rec.closed
