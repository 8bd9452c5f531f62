"""Jitter buffer, packet by packet: reorder, wrap, duplicates, late, loss, concealment, bounds, jitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ari_app.media.jitter import JitterBuffer, JitterEstimator
from ari_app.media.rtp import RtpPacket

SIL = b"\xff" * 160


def frame(i: int) -> bytes:
    return bytes([i % 251]) * 160


def pkt(seq: int, ssrc: int = 7, payload: bytes | None = None) -> RtpPacket:
    seq &= 0xFFFF
    return RtpPacket(payload_type=0, sequence=seq, timestamp=seq * 160, ssrc=ssrc,
                     payload=frame(seq) if payload is None else payload)


def test_given_fewer_than_depth_frames_when_popped_then_none_until_prefetched() -> None:
    jb = JitterBuffer(depth_frames=3)
    jb.push(pkt(10))
    jb.push(pkt(11))
    assert jb.pop() is None
    jb.push(pkt(12))
    assert [jb.pop(), jb.pop(), jb.pop()] == [frame(10), frame(11), frame(12)]


def test_given_packets_reordered_across_the_16_bit_wrap_when_popped_then_in_sequence_order() -> None:
    jb = JitterBuffer(depth_frames=4)
    for s in [65534, 0, 65535, 1, 3, 2]:
        jb.push(pkt(s))
    assert [jb.pop() for _ in range(6)] == [frame(s) for s in [65534, 65535, 0, 1, 2, 3]]
    assert jb.stats.lost == 0 and jb.stats.played == 6


def test_given_duplicate_in_buffer_and_after_playout_when_pushed_then_counted_and_dropped() -> None:
    jb = JitterBuffer(depth_frames=2)
    jb.push(pkt(1))
    jb.push(pkt(1))
    jb.push(pkt(2))
    assert jb.pop() == frame(1)
    jb.push(pkt(1))  # already played
    assert jb.stats.duplicates == 2 and jb.stats.late == 0
    assert jb.pop() == frame(2)


def test_given_packet_after_its_slot_was_concealed_when_pushed_then_late_and_dropped() -> None:
    jb = JitterBuffer(depth_frames=2)
    for s in [1, 2, 4]:
        jb.push(pkt(s))
    assert [jb.pop(), jb.pop()] == [frame(1), frame(2)]
    assert jb.pop() == frame(2)  # 3 missing, 4 present: lost, last frame repeated
    jb.push(pkt(3))
    assert jb.stats.late == 1 and jb.stats.lost == 1
    assert jb.pop() == frame(4)


def test_given_burst_loss_when_popped_then_repeat_once_then_silence() -> None:
    jb = JitterBuffer(depth_frames=2, silence=SIL)
    for s in [1, 2, 6]:
        jb.push(pkt(s))
    out = [jb.pop() for _ in range(6)]
    assert out == [frame(1), frame(2), frame(2), SIL, SIL, frame(6)]
    assert jb.stats.lost == 3 and jb.stats.concealed == 3


def test_given_empty_buffer_when_popped_then_underrun_rebuffers_without_skipping_or_inventing_frames() -> None:
    jb = JitterBuffer(depth_frames=2, silence=SIL)
    jb.push(pkt(1))
    jb.push(pkt(2))
    assert [jb.pop(), jb.pop()] == [frame(1), frame(2)]
    assert jb.pop() is None  # underrun
    jb.push(pkt(3))
    assert jb.pop() is None  # re-buffering up to depth
    jb.push(pkt(4))
    assert [jb.pop(), jb.pop()] == [frame(3), frame(4)]  # nothing lost, nothing late
    assert jb.stats.underruns == 1 and jb.stats.concealed == 0 and jb.stats.lost == 0 and jb.stats.late == 0


def test_given_first_packets_reordered_before_playout_when_pushed_then_start_moves_back() -> None:
    jb = JitterBuffer(depth_frames=3)
    for s in [11, 10, 12]:
        jb.push(pkt(s))
    assert [jb.pop(), jb.pop(), jb.pop()] == [frame(10), frame(11), frame(12)]
    assert jb.stats.late == 0


def test_given_packet_too_far_ahead_when_pushed_then_buffer_stays_bounded_and_resyncs() -> None:
    jb = JitterBuffer(depth_frames=2, max_frames=8)
    for s in range(5):
        jb.push(pkt(s))
    jb.push(pkt(1000))
    assert jb.fill <= 8 and jb.stats.resyncs == 1 and jb.stats.overflow_dropped == 5
    jb.push(pkt(1001))
    assert [jb.pop(), jb.pop()] == [frame(1000), frame(1001)]


def test_given_new_ssrc_when_pushed_then_follows_the_new_stream() -> None:
    jb = JitterBuffer(depth_frames=1)
    jb.push(pkt(100, ssrc=1))
    assert jb.pop() == frame(100)
    jb.push(pkt(5, ssrc=2))
    assert jb.pop() == frame(5)
    assert jb.stats.resyncs == 1 and jb.stats.late == 0


@settings(max_examples=300)
@given(
    n=st.integers(5, 120),
    start=st.integers(0, 0xFFFF),
    data=st.data(),
)
def test_given_any_order_within_depth_when_played_then_all_frames_in_order_and_bounded(
    n: int, start: int, data: st.DataObject
) -> None:
    depth = 4
    order = list(range(n))
    # local shuffles inside windows of `depth` keep every packet within reach of the buffer
    for w in range(0, n, depth):
        window = order[w : w + depth]
        order[w : w + depth] = data.draw(st.permutations(window))
    jb = JitterBuffer(depth_frames=depth, max_frames=16)
    out: list[bytes] = []
    pushed = 0
    while len(out) < n:
        for _ in range(depth if pushed == 0 else 1):
            if pushed < n:
                jb.push(pkt(start + order[pushed]))
                pushed += 1
        got = jb.pop()
        if got is not None:
            out.append(got)
        assert jb.fill <= 16
    assert out == [frame((start + i) & 0xFFFF) for i in range(n)]
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_given_perfectly_paced_arrivals_when_estimated_then_zero_jitter() -> None:
    est = JitterEstimator(8000)
    for i in range(100):
        est.update(i * 0.020, (1000 + i * 160) & 0xFFFFFFFF)
    assert est.jitter == pytest.approx(0.0, abs=1e-6)


def test_given_alternating_4ms_early_late_arrivals_when_estimated_then_converges_per_rfc3550() -> None:
    est = JitterBuffer(depth_frames=1)
    for i in range(2000):
        arrival = i * 0.020 + (0.002 if i % 2 else -0.002)
        est.push(pkt(i), now=arrival)
        est.pop()
    # |D| is 4 ms = 32 timestamp units each packet, so J converges to 32 units = 4 ms
    assert est.jitter_ms == pytest.approx(4.0, rel=0.01)


def test_given_timestamps_wrapping_32_bits_when_estimated_then_no_spike() -> None:
    est = JitterEstimator(8000)
    base = 2**32 - 800
    for i in range(20):
        est.update(i * 0.020, (base + i * 160) & 0xFFFFFFFF)
    assert est.jitter < 1e-6


def test_given_bad_sizes_when_constructed_then_value_error() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(depth_frames=0)
    with pytest.raises(ValueError):
        JitterBuffer(depth_frames=5, max_frames=4)
