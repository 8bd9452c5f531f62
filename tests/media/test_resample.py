"""Streaming resampler: chunked output equals one-shot output (no clicks at 20 ms frame edges)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from ari_app.media.resample import StreamResampler

RATES = [(8000, 16000), (16000, 8000), (8000, 22050), (22050, 8000), (24000, 8000), (8000, 24000),
         (16000, 24000), (22050, 16000)]


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@pytest.mark.parametrize(("src", "dst"), RATES)
def test_given_tone_fed_in_20ms_frames_when_resampled_then_equals_one_shot(src: int, dst: int) -> None:
    pcm = tone(src)
    rs = StreamResampler(src, dst)
    frame = src // 50
    chunks = [rs.process(pcm[i : i + frame]) for i in range(0, len(pcm), frame)]
    streamed = np.concatenate([*chunks, rs.flush()])
    one_shot = soxr.resample(pcm, src, dst, quality="HQ")
    assert abs(len(streamed) - len(one_shot)) <= 2
    n = min(len(streamed), len(one_shot))
    diff = np.abs(streamed[:n].astype(np.int32) - one_shot[:n].astype(np.int32))
    assert diff.max() <= 2, f"max deviation {diff.max()}"


@pytest.mark.parametrize(("src", "dst"), RATES)
def test_given_tone_streamed_when_compared_to_ideal_tone_then_no_click_at_frame_edges(src: int, dst: int) -> None:
    rs = StreamResampler(src, dst)
    pcm = tone(src)
    frame = src // 50
    out = np.concatenate([*(rs.process(pcm[i : i + frame]) for i in range(0, len(pcm), frame)), rs.flush()])
    # the largest sample-to-sample step of a 440 Hz tone at amplitude 8000 is 2*pi*440*8000/rate
    steps = np.abs(np.diff(out[dst // 10 : -dst // 10].astype(np.int32)))
    assert steps.max() <= 1.05 * 2 * np.pi * 440 * 8000 / dst + 2


def test_given_same_rates_when_processed_then_passthrough_copy() -> None:
    rs = StreamResampler(8000, 8000)
    pcm = tone(8000, 0.02)
    out = rs.process(pcm)
    assert np.array_equal(out, pcm) and out is not pcm
    assert rs.flush().size == 0


def test_given_flushed_resampler_when_processed_again_then_error() -> None:
    rs = StreamResampler(8000, 16000)
    rs.flush()
    with pytest.raises(RuntimeError):
        rs.process(np.zeros(160, dtype=np.int16))


def test_given_bad_rate_or_stereo_input_when_used_then_value_error() -> None:
    with pytest.raises(ValueError):
        StreamResampler(0, 8000)
    with pytest.raises(ValueError):
        StreamResampler(8000, 16000).process(np.zeros((160, 2), dtype=np.int16))
