"""Streaming resampler over ``soxr.ResampleStream``.

Filter state is kept between calls, so a signal fed 20 ms at a time comes out the same as if it had
been resampled in one piece: no discontinuity (click) at frame edges, which naive per-frame resampling
or sample dropping produces. The cost is the filter's group delay; ``quality`` trades it against
stop-band rejection ("HQ" default; "MQ"/"LQ" for lower latency).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

Int16Array = npt.NDArray[np.int16]


class StreamResampler:
    """Mono int16 resampler that keeps state across chunks; call :meth:`flush` once at end of stream."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._passthrough = in_rate == out_rate
        self._stream = None if self._passthrough else soxr.ResampleStream(
            in_rate, out_rate, 1, dtype="int16", quality=quality
        )
        self._flushed = False

    def process(self, pcm_int16: npt.ArrayLike) -> Int16Array:
        """Resample one chunk; output length varies while the filter fills, totals match the rate ratio."""
        if self._flushed:
            raise RuntimeError("StreamResampler used after flush(); create a new one per stream")
        arr = np.ascontiguousarray(pcm_int16, dtype=np.int16)
        if arr.ndim != 1:
            raise ValueError(f"mono 1-D input expected, got shape {arr.shape}")
        if self._stream is None:
            return arr.copy()
        out: Int16Array = self._stream.resample_chunk(arr)
        return out

    def flush(self) -> Int16Array:
        """Drain the samples still held in the filter; the resampler cannot be used afterwards."""
        if self._flushed:
            return np.zeros(0, dtype=np.int16)
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        out: Int16Array = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return out
