"""FrameMailbox: the hand-over of released frames to the one reader, shared by RTP and WebRTC media."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.media.errors import EndpointClosed, MediaError
from ari_app.media.mailbox import FrameMailbox


async def test_given_frames_put_when_read_then_oldest_first_and_nowait_empty_is_none() -> None:
    box: FrameMailbox[bytes] = FrameMailbox(4)
    for frame in (b"a", b"b", b"c"):
        box.put(frame)
    assert len(box) == 3
    assert await box.get() == b"a"
    assert box.get_nowait() == b"b"
    assert await box.get() == b"c"
    assert box.get_nowait() is None and len(box) == 0


async def test_given_a_waiting_reader_when_a_frame_is_put_then_it_wakes_with_that_frame() -> None:
    box: FrameMailbox[int] = FrameMailbox(4)
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not reader.done()  # nothing to read: it waits
    box.put(7)
    assert await asyncio.wait_for(reader, 1) == 7


async def test_given_a_full_mailbox_when_put_then_oldest_is_dropped_and_counted() -> None:
    box: FrameMailbox[int] = FrameMailbox(2)
    for n in range(5):
        box.put(n)
    assert box.overflow == 3
    assert [box.get_nowait(), box.get_nowait(), box.get_nowait()] == [3, 4, None]


async def test_given_frames_left_when_closed_then_reader_gets_them_then_endpoint_closed() -> None:
    box: FrameMailbox[int] = FrameMailbox(4, "gone")
    box.put(1)
    box.close()
    assert box.closed
    assert await box.get() == 1
    with pytest.raises(EndpointClosed, match="gone"):
        await box.get()


async def test_given_a_waiting_reader_when_closed_then_it_is_told_at_once() -> None:
    box: FrameMailbox[int] = FrameMailbox(4)
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.close()
    with pytest.raises(EndpointClosed):
        await asyncio.wait_for(reader, 1)


async def test_given_one_reader_waiting_when_a_second_reads_then_it_is_refused_and_the_first_still_served() -> None:
    box: FrameMailbox[int] = FrameMailbox(4)
    first = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    with pytest.raises(MediaError):
        await box.get()
    box.put(5)
    assert await asyncio.wait_for(first, 1) == 5


async def test_given_a_cancelled_reader_when_read_again_then_the_next_reader_is_served() -> None:
    box: FrameMailbox[int] = FrameMailbox(4)
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    again = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put(9)
    assert await asyncio.wait_for(again, 1) == 9


def test_given_no_room_when_made_then_refused() -> None:
    with pytest.raises(ValueError):
        FrameMailbox(0)
