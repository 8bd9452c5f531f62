"""The call recorder as this package uses it: the media plane's writer plus policy and a timeline.

The endpoint calls :meth:`PolicyRecorder.write` once per 20 ms tick on the event loop, so everything
added here is a few attribute reads: whether the payment pause holds at this frame, and a wall-clock
checkpoint about once a second for mapping stored turns to positions later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ari_app.media.recorder import HEADER_LEN, CallRecorder
from ari_app.recording.policy import PaymentPause, Timeline

Int16Array = npt.NDArray[np.int16]
_BLOCK_FRAMES = 64 * 1024


class PolicyRecorder(CallRecorder):
    """A :class:`CallRecorder` that pauses itself while :class:`PaymentPause` says so."""

    def __init__(
        self,
        path: str | Path,
        pause: PaymentPause,
        *,
        sample_rate: int = 8000,
        wall: Callable[[], float] = time.time,
        exclusive: bool = True,
    ) -> None:
        super().__init__(path, sample_rate=sample_rate, exclusive=exclusive)
        self.pause_policy = pause
        self.timeline = Timeline(sample_rate)
        self.pauses: list[tuple[int, int]] = []  # [start, end) frames written as silence by the policy
        self._wall = wall
        self._pause_started: int | None = None

    def write(self, caller: Int16Array | None, agent: Int16Array | None) -> None:
        pos = self.frames_written
        tl = self.timeline
        if not tl.frames or pos - tl.frames[-1] >= self.sample_rate:
            tl.add(self._wall(), pos)
        want = self.pause_policy.paused_at(pos)
        if want and not self.paused:
            self.pause()
            self._pause_started = pos
        elif not want and self.paused:
            self.resume()
            self._end_pause(pos)
        super().write(caller, agent)

    def close(self) -> None:
        if not self.closed and self._pause_started is not None:
            self._end_pause(self.frames_written)
        super().close()

    def _end_pause(self, pos: int) -> None:
        if self._pause_started is not None and pos > self._pause_started:
            self.pauses.append((self._pause_started, pos))
        self._pause_started = None


def silence_channel(path: Path, spans: Sequence[tuple[int, int]], channel: int = 0) -> int:
    """Overwrite one channel of a finished recorder WAV with zeros over ``spans`` (frames); returns the
    number of frames silenced. The other channel and the file's size and header stay as they are."""
    size = path.stat().st_size
    total = max(0, (size - HEADER_LEN) // 4)
    done = 0
    with open(path, "r+b") as f:
        for start, end in spans:
            start, end = max(0, start), min(end, total)
            pos = start
            while pos < end:
                n = min(_BLOCK_FRAMES, end - pos)
                offset = HEADER_LEN + pos * 4
                f.seek(offset)
                block = np.frombuffer(f.read(n * 4), dtype="<i2").reshape(-1, 2).copy()
                block[:, channel] = 0
                f.seek(offset)
                f.write(block.tobytes())
                pos += n
                done += n
    return done
