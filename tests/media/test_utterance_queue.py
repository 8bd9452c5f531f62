"""UtteranceQueue: agent audio leaving one frame per tick, shared by RTP and WebRTC media."""

from __future__ import annotations

from ari_app.media.endpoint import Utterance, UtteranceQueue, UtteranceState


async def test_given_two_utterances_when_taken_then_frames_in_order_padded_and_each_done_at_its_end() -> None:
    q = UtteranceQueue()
    first = q.add(Utterance(b"ab" * 3, 4, 0xFF))  # 6 bytes in 4-byte frames: the last is padded
    second = q.add(Utterance(b"cdcd", 4, 0xFF))
    assert q.is_playing and q.queued_frames == 3
    assert q.next_frame() == b"abab"
    assert q.next_frame() == b"ab\xff\xff" and first.state is UtteranceState.DONE
    assert q.next_frame() == b"cdcd" and second.state is UtteranceState.DONE
    assert q.next_frame() is None and not q.is_playing
    assert await first.wait() and await second.wait()


async def test_given_queued_audio_when_flushed_then_nothing_more_leaves_and_waiters_hear_cancelled() -> None:
    q = UtteranceQueue()
    utt = q.add(Utterance(b"x" * 12, 4, 0))
    assert q.next_frame() == b"xxxx"
    assert q.flush() == 2
    assert q.next_frame() is None and q.queued_frames == 0
    assert await utt.wait() is False


async def test_given_an_empty_or_cancelled_utterance_then_it_is_done_and_skipped() -> None:
    q = UtteranceQueue()
    empty = q.add(Utterance(b"", 4, 0))
    assert empty.state is UtteranceState.DONE and not q.is_playing
    dropped = q.add(Utterance(b"yyyy", 4, 0))
    kept = q.add(Utterance(b"zzzz", 4, 0))
    dropped.cancel()
    assert q.next_frame() == b"zzzz" and kept.state is UtteranceState.DONE


async def test_given_closing_media_when_cancel_all_then_every_waiter_is_released() -> None:
    q = UtteranceQueue()
    a, b = q.add(Utterance(b"1111", 4, 0)), q.add(Utterance(b"2222", 4, 0))
    q.cancel_all()
    assert not q.is_playing and q.next_frame() is None
    assert (await a.wait(), await b.wait()) == (False, False)
