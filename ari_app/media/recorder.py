"""Per-call stereo WAV recorder (caller left, agent right, 8 kHz, 16-bit).

Written as the call goes: the RIFF header's sizes are rewritten every ``sync_every_frames`` frames and
the file is flushed, so a crash leaves a valid file missing at most that much audio, and the file can
be opened with :mod:`wave` while the call is still running. While paused (card numbers being spoken),
silence is written in both channels so the timeline stays aligned and the pause is visible.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from ari_app.media.errors import MediaError

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
HEADER_LEN = _HEADER.size  # 44


def open_private(path: Path, *, exclusive: bool = False) -> BinaryIO:
    """Open for writing with mode 0600 from the first byte: a call recording (card digits, guests'
    voices) is nobody else's to read, not even for the moment between create and chmod.

    ``exclusive`` refuses an existing file (``FileExistsError``) instead of truncating it, so a
    recording can never overwrite another one.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_TRUNC
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


class CallRecorder:
    """Append-only stereo WAV writer fed with one caller and one agent chunk at a time."""

    def __init__(
        self, path: str | Path, sample_rate: int = 8000, sync_every_frames: int = 50, *, exclusive: bool = False
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.sync_every_frames = sync_every_frames
        self._f: BinaryIO | None = open_private(self.path, exclusive=exclusive)  # lives as long as the call
        self._data_bytes = 0
        self._since_sync = 0
        self._paused = False
        self.frames_written = 0
        self._write_header()
        self._f.flush()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def closed(self) -> bool:
        return self._f is None

    def pause(self) -> None:
        """Write silence instead of audio from now on (e.g. while payment details are spoken)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def _write_header(self) -> None:
        assert self._f is not None
        channels, bits = 2, 16
        block = channels * bits // 8
        self._f.write(
            _HEADER.pack(
                b"RIFF", 36 + self._data_bytes, b"WAVE", b"fmt ", 16, 1, channels, self.sample_rate,
                self.sample_rate * block, block, bits, b"data", self._data_bytes,
            )
        )

    def write(
        self, caller: npt.NDArray[np.int16] | None, agent: npt.NDArray[np.int16] | None
    ) -> None:
        """Append time-aligned chunks; a missing side (``None``) or a shorter one is padded with silence."""
        f = self._f
        if f is None:
            raise MediaError(f"recorder {self.path} is closed")
        n = max(0 if caller is None else len(caller), 0 if agent is None else len(agent))
        if n == 0:
            return
        stereo = np.zeros((n, 2), dtype="<i2")
        if not self._paused:
            if caller is not None:
                stereo[: len(caller), 0] = caller
            if agent is not None:
                stereo[: len(agent), 1] = agent
        f.write(stereo.tobytes())
        self._data_bytes += n * 4
        self.frames_written += n
        self._since_sync += 1
        if self._since_sync >= self.sync_every_frames:
            self.sync()

    def sync(self) -> None:
        """Rewrite the header sizes and flush, so readers (and a post-crash look) see all data so far."""
        f = self._f
        if f is None:
            return
        self._since_sync = 0
        f.seek(0)
        self._write_header()
        f.seek(0, 2)
        f.flush()

    def close(self) -> None:
        """Final header update; idempotent."""
        if self._f is None:
            return
        self.sync()
        self._f.close()
        self._f = None
