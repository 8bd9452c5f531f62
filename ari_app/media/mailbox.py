"""The hand-over of received frames from the media clock to the call's one reader.

Both kinds of call media (RTP and the browser's WebRTC) release caller frames on the clock's tick
and have a single consumer (the speech loop or the Realtime bridge) awaiting them. The hand-over
is kept here, once, so the two cannot drift apart in how they bound the backlog, wake the reader
or tell it the call has ended. Nothing here does I/O: frames are put in by whoever holds them and
the only asyncio object is the reader's wake-up future.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

from ari_app.media.errors import EndpointClosed, MediaError

Frame = TypeVar("Frame")


class FrameMailbox(Generic[Frame]):
    """Frames waiting for one reader: bounded (a stalled reader loses the oldest, not memory).

    ``overflow`` counts the frames lost that way, so a reader that cannot keep up shows in the
    statistics instead of as a growing delay.
    """

    def __init__(self, maxlen: int, closed_message: str = "media closed") -> None:
        if maxlen < 1:
            raise ValueError(f"a mailbox holds at least one frame, not {maxlen}")
        self._frames: collections.deque[Frame] = collections.deque(maxlen=maxlen)
        self._reader: asyncio.Future[None] | None = None
        self._closed = False
        self._closed_message = closed_message
        self.overflow = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame: Frame) -> None:
        """Hand one frame over (from the clock's tick) and wake the reader if it waits."""
        if len(self._frames) == self._frames.maxlen:
            self.overflow += 1
        self._frames.append(frame)
        self._wake()

    def close(self) -> None:
        """No more frames: the reader gets what is left, then :class:`EndpointClosed`."""
        self._closed = True
        self._wake()

    def get_nowait(self) -> Frame | None:
        return self._frames.popleft() if self._frames else None

    async def get(self) -> Frame:
        """The oldest frame, waiting for one; raises :class:`EndpointClosed` once closed and empty."""
        while True:
            if self._frames:
                return self._frames.popleft()
            if self._closed:
                raise EndpointClosed(self._closed_message)
            if self._reader is not None and not self._reader.done():
                # two readers would each get every other frame: a bug, so said at once
                raise MediaError("one reader at a time")
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None

    def _wake(self) -> None:
        waiter = self._reader
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
