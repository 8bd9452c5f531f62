"""Call recorder: valid while being written, stereo alignment, pause as silence."""

from __future__ import annotations

import random
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import PortAllocator, RtpEndpoint
from ari_app.media.g711 import ulaw_decode
from ari_app.media.recorder import CallRecorder
from ari_app.media.rtp import RtpPacket, build_rtp


def read_wav(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(str(path), "rb") as w:
        params = w.getparams()
        data = np.frombuffer(w.readframes(params.nframes), dtype="<i2").reshape(-1, 2)
    return params, data


def test_given_call_in_progress_when_file_opened_with_wave_then_readable_up_to_last_sync(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    rec = CallRecorder(path, sync_every_frames=50)
    caller = [np.full(160, k, dtype=np.int16) for k in range(120)]
    agent = [np.full(160, -k, dtype=np.int16) for k in range(120)]
    for c, a in zip(caller, agent, strict=True):
        rec.write(c, a)
    params, data = read_wav(path)  # recorder still open, as if the process had crashed here
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
    assert params.nframes == 100 * 160
    assert np.array_equal(data[:, 0], np.concatenate(caller[:100]))
    assert np.array_equal(data[:, 1], np.concatenate(agent[:100]))
    rec.close()
    params, data = read_wav(path)
    assert params.nframes == 120 * 160
    rec.close()


def test_given_pause_when_writing_then_both_channels_silent_and_timeline_kept(tmp_path: Path) -> None:
    path = tmp_path / "pause.wav"
    rec = CallRecorder(path)
    loud = np.full(160, 1234, dtype=np.int16)
    rec.write(loud, loud)
    rec.pause()
    assert rec.paused
    for _ in range(5):
        rec.write(loud, loud)
    rec.resume()
    rec.write(loud, None)
    rec.close()
    _, data = read_wav(path)
    assert data.shape == (7 * 160, 2)
    assert (data[:160] == 1234).all()
    assert not data[160 : 6 * 160].any()
    assert (data[6 * 160 :, 0] == 1234).all() and not data[6 * 160 :, 1].any()


async def test_given_endpoint_with_recorder_when_caller_and_agent_talk_then_channels_aligned(
    tmp_path: Path, allocator: PortAllocator, peer_factory: Any, until: Any
) -> None:
    path = tmp_path / "ep.wav"
    clock = MediaClock(manual=True)
    ep = RtpEndpoint(allocator, recorder=CallRecorder(path), clock=clock, jitter_depth=3, rng=random.Random(3))
    await ep.start()
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    caller = [bytes([0x10 + k]) * 160 for k in range(10)]
    agent = b"".join(bytes([0x90 + k]) * 160 for k in range(10))
    ep.play_ulaw(agent)
    for k in range(10):
        asterisk.send(build_rtp(RtpPacket(0, k, 160 * k, 9, caller[k])), ("127.0.0.1", ep.local_port))
        await until(lambda k=k: ep.stats.packets_in == k + 1)
        clock.tick()  # agent frame k leaves at the tick that follows caller frame k's arrival
    for _ in range(4):
        clock.tick()
    await ep.close()  # closes the recorder too
    _, data = read_wav(path)
    left, right = data[:, 0].reshape(-1, 160), data[:, 1].reshape(-1, 160)
    first = next(i for i in range(len(left)) if left[i].any())
    for k in range(10):
        assert np.array_equal(left[first + k], ulaw_decode(caller[k]))
        assert np.array_equal(right[first + k], ulaw_decode(agent[160 * k : 160 * (k + 1)]))
