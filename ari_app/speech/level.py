"""Telephony speech level: every sentence we send at the same loudness, peaks limited, no clipping.

Piper normalises each sentence to its peak, so a short "Yes." and a long read-back came out at
different loudness, and our replies were about half as loud as other agents on the caller's
recording. Here the level is set by the RMS of the *active* speech (the pauses between words don't
count), the way a phone network measures talk level (about -18 dBFS for speech on a G.711 line),
and a look-ahead limiter keeps the peaks under a ceiling instead of clipping them. Applied to every
synthesised sentence, so prompts, cached phrases and live replies all sound the same.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]

FRAME = 160  # 20 ms at 8 kHz
DEFAULT_RMS_DBFS = -18.0
DEFAULT_CEILING_DBFS = -1.0
_ACTIVE_BELOW_LOUDEST_DB = 30.0  # a frame this far under the loudest one is a pause, not speech
_ACTIVE_FLOOR_DBFS = -55.0


def active_rms_dbfs(pcm: npt.ArrayLike, frame: int = FRAME) -> float:
    """RMS of the speech frames only, in dBFS (-120 for silence)."""
    raw = np.asarray(pcm)
    x = raw.astype(np.float64) / 32768.0 if raw.dtype == np.int16 else raw.astype(np.float64)
    n = x.size // frame
    if n == 0:
        rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
        return 20 * float(np.log10(rms)) if rms > 1e-9 else -120.0
    power = np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1)
    db = 10 * np.log10(np.maximum(power, 1e-12))
    active = (db > float(np.max(db)) - _ACTIVE_BELOW_LOUDEST_DB) & (db > _ACTIVE_FLOOR_DBFS)
    if not np.any(active):
        return -120.0
    return 10 * float(np.log10(float(np.mean(power[active]))))


def _sliding_max(x: FloatArray, width: int) -> FloatArray:
    """Maximum over a centred window of ``width`` samples (edges padded with the edge value)."""
    half = width // 2
    padded = np.pad(x, (half, width - 1 - half), mode="edge")
    out: FloatArray = np.lib.stride_tricks.sliding_window_view(padded, width).max(axis=1)
    return out


def limit(x: FloatArray, ceiling: float, width: int = 48) -> FloatArray:
    """Look-ahead peak limiter: the gain dips smoothly (over ``width`` samples, 6 ms at 8 kHz)
    around each peak so the result stays under ``ceiling`` without the harsh edges of a hard clip."""
    env = _sliding_max(np.abs(x), width)
    gain = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    # smooth the gain, taking the minimum first so the smoothed gain never lets a peak through
    gain = -_sliding_max(-gain, width)
    kernel = np.ones(width) / width
    gain = np.convolve(np.pad(gain, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")
    out: FloatArray = np.clip(x * gain, -ceiling, ceiling)
    return out


def level_speech(
    audio: npt.ArrayLike, rms_dbfs: float = DEFAULT_RMS_DBFS, ceiling_dbfs: float = DEFAULT_CEILING_DBFS
) -> Int16Array:
    """Float samples (-1..1) or int16 at 8 kHz in, int16 out with the speech at ``rms_dbfs``."""
    x = np.asarray(audio)
    f = x.astype(np.float64) / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)
    if f.size == 0:
        return np.zeros(0, dtype=np.int16)
    current = active_rms_dbfs(f)
    if current <= -119.0:
        return np.zeros(f.size, dtype=np.int16)
    f = f * 10 ** ((rms_dbfs - current) / 20)
    f = limit(f, 10 ** (ceiling_dbfs / 20))
    out: Int16Array = np.round(f * 32767.0).astype(np.int16)
    return out
