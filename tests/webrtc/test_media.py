"""The browser call's media port on a manual clock: pacing one frame per tick, barge-in within one
frame, caller frames cut to 20 ms at 8 kHz, both sides recorded on one timeline."""

from __future__ import annotations

import fractions
import wave
from pathlib import Path

import av
import numpy as np

from ari_app.media.clock import MediaClock
from ari_app.media.recorder import CallRecorder
from ari_app.webrtc.media import WebRtcMedia


def _opus_like(samples: np.ndarray, rate: int = 48000) -> av.AudioFrame:
    """A decoded frame as aiortc's Opus decoder gives it: interleaved stereo s16."""
    stereo = np.repeat(samples.astype(np.int16), 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = rate
    frame.time_base = fractions.Fraction(1, rate)
    return frame


def _level(frame: av.AudioFrame) -> int:
    return int(np.max(np.abs(frame.to_ndarray().astype(np.int32))))


async def test_given_agent_audio_when_the_clock_ticks_then_one_frame_per_tick_and_a_flush_silences_the_next_tick() -> None:
    clock = MediaClock(manual=True)
    media = WebRtcMedia(clock, out_rate=8000)
    await media.start()
    utt = media.play(np.full(160 * 50, 9000, np.int16))
    for _ in range(3):
        clock.tick()
    assert utt.frames_sent == 3 and media.is_playing
    frames = [media.track._frames.get_nowait() for _ in range(3)]
    assert all(f.samples == 160 and _level(f) == 9000 for f in frames)
    dropped = media.flush()  # barge-in
    assert dropped == 47 and not media.is_playing
    clock.tick()
    assert _level(media.track._frames.get_nowait()) == 0  # the very next frame is silence
    await utt.wait()
    assert utt.frames_sent == 3
    await media.close()


async def test_given_opus_frames_from_the_browser_when_read_then_8khz_20ms_frames_in_order() -> None:
    clock = MediaClock(manual=True)
    media = WebRtcMedia(clock)
    await media.start()
    t = np.arange(48000) / 48000.0
    tone = (np.sin(2 * np.pi * 400 * t) * 10000).astype(np.int16)
    for k in range(50):  # one second in 20 ms decoded frames
        media.push_decoded(_opus_like(tone[k * 960 : (k + 1) * 960]))
    got = []
    for _ in range(60):
        clock.tick()
        while media._readq:
            got.append(await media.read_frame())
    assert all(f.shape == (160,) and f.dtype == np.int16 for f in got)
    pcm = np.concatenate(got)
    assert 7000 <= len(pcm) <= 8000  # about a second at 8 kHz (the resampler holds a few ms back)
    spectrum = np.abs(np.fft.rfft(pcm[800:].astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(pcm[800:])
    assert abs(peak_hz - 400) < 10, peak_hz
    await media.close()


async def test_given_a_recorder_when_both_sides_talk_then_caller_left_agent_right(tmp_path: Path) -> None:
    clock = MediaClock(manual=True)
    media = WebRtcMedia(clock, out_rate=8000)
    await media.start()
    media.attach_recorder(CallRecorder(tmp_path / "call.wav", sample_rate=8000))
    media.play(np.full(160 * 10, 7000, np.int16))
    for _ in range(10):
        media.push_decoded(_opus_like(np.full(160, 3000, np.int16), rate=8000))
        clock.tick()
    await media.close()
    with wave.open(str(tmp_path / "call.wav"), "rb") as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert len(data) == 1600
    assert np.max(np.abs(data[:, 1])) == 7000  # agent on the right
    assert np.max(np.abs(data[400:, 0])) > 2000  # caller on the left
