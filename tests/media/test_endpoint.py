"""RtpEndpoint over real UDP on loopback, with a manual clock so pacing is asserted in frames."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import PortAllocator, RtpEndpoint, UtteranceState
from ari_app.media.errors import EndpointClosed, MediaError, PortsExhausted
from ari_app.media.g711 import ulaw_decode
from ari_app.media.rtp import RtpPacket, build_rtp, seq_diff

SIL = b"\xff" * 160
Until = Callable[..., Any]


def voice(frames: int, level: int = 0x20) -> bytes:
    """μ-law bytes that are never the silence code, so voiced frames are recognisable on the wire."""
    return bytes((level + i) % 0x7F for i in range(frames * 160))


async def started(allocator: PortAllocator, clock: MediaClock, **kw: Any) -> RtpEndpoint:
    ep = RtpEndpoint(allocator, clock=clock, rng=random.Random(kw.pop("seed", 1)), **kw)
    await ep.start()
    return ep


async def test_given_recorded_call_with_reorder_loss_duplicates_when_replayed_over_udp_then_audio_equals_original_except_lost(
    allocator: PortAllocator, peer_factory: Any, records_dir: Path, headers_of: Any, until: Until
) -> None:
    audio = (records_dir / "basic-rtp-in.ulaw").read_bytes()
    frames = [audio[i : i + 160] for i in range(0, len(audio), 160)]
    first = headers_of("basic")["first_50_headers"][0]
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, jitter_depth=3)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)  # UNICASTRTP_LOCAL_ADDRESS/PORT from the externalMedia POST
    n = len(frames)
    lost = {40, 41, 42, 100, 333, 500}
    swapped = {i for i in range(10, n - 10, 17)}  # packet i goes out after i+1
    dup_now = set(range(5, n - 10, 29)) - lost
    dup_later = set(range(7, n - 10, 31)) - lost  # re-sent 6 slots later, after it was played
    held = 250  # 8 slots late: past the playout point, so lost and then late
    schedule: dict[int, list[int]] = {}
    for i in range(n):
        if i in lost:
            continue
        slot = i + 1 if i in swapped else i + 8 if i == held else i
        schedule.setdefault(slot, []).append(i)
        if i in dup_now:
            schedule[slot].append(i)
        if i in dup_later:
            schedule.setdefault(i + 6, []).append(i)
    sent = 0
    delivered: list[bytes] = []
    for slot in range(n + 12):
        for i in schedule.get(slot, []):
            pkt = RtpPacket(payload_type=0, sequence=(first["seq"] + i) & 0xFFFF,
                            timestamp=(first["timestamp"] + 160 * i) & 0xFFFFFFFF, ssrc=first["ssrc"],
                            payload=frames[i])
            asterisk.send(build_rtp(pkt), ("127.0.0.1", ep.local_port))
            sent += 1
        await until(lambda sent=sent: ep.stats.datagrams_in >= sent)
        clock.tick()
        while (p := ep.read_payload_nowait()) is not None:
            delivered.append(p)
    missing = lost | {held}
    assert len(delivered) >= n
    for i in range(n):
        if i not in missing:
            assert delivered[i] == frames[i], f"frame {i} differs"
    # concealment: first missing frame of a burst repeats the previous one, later ones are silence
    assert delivered[40] == frames[39] and delivered[41] == SIL and delivered[42] == SIL
    st = ep.stats
    assert st.lost == len(missing)
    assert st.late == 1
    assert st.duplicates == len(dup_now) + len(dup_later)
    assert st.packets_in == sent and st.bad_packets == 0
    await ep.close()


async def test_given_idle_then_two_utterances_when_ticked_then_one_packet_per_tick_continuous_seq_ts_marker_at_spurts(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    for _ in range(3):
        clock.tick()
    utt1 = ep.play_ulaw(voice(5)[:-80])  # 4.5 frames: last one padded with silence
    utt2 = ep.play(np.full(320, 1000, dtype=np.int16))  # queued right behind: same talk spurt
    assert ep.is_playing and ep.queued_frames == 7
    for _ in range(8):
        clock.tick()
    utt3 = ep.play_ulaw(voice(2))
    for _ in range(4):
        clock.tick()
    got = await asterisk.receive(15)
    assert [seq_diff(p.sequence, got[0].sequence) for p in got] == list(range(15))
    assert [(p.timestamp - got[0].timestamp) & 0xFFFFFFFF for p in got] == [160 * i for i in range(15)]
    assert {p.ssrc for p in got} == {ep.ssrc} and all(p.payload_type == 0 for p in got)
    voiced = [p.payload != SIL for p in got]
    assert voiced == [False] * 3 + [True] * 7 + [False] + [True] * 2 + [False] * 2
    assert [p.marker for p in got] == [i in (3, 11) for i in range(15)]
    assert got[7].payload[80:] == SIL[80:]
    assert await utt1.wait() and await utt2.wait() and await utt3.wait()
    assert (utt1.frames_sent, utt2.frames_sent, utt3.frames_sent) == (5, 2, 2)
    assert not ep.is_playing
    await ep.close()


async def test_given_agent_talking_when_flushed_then_no_agent_frame_leaves_after_the_flush(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    utt = ep.play_ulaw(voice(100))  # 2 s reply
    nxt = ep.play_ulaw(voice(10))
    for _ in range(10):
        clock.tick()
    before = await asterisk.receive(10)
    assert all(p.payload != SIL for p in before)
    dropped = ep.flush()
    assert dropped == 90 + 10
    assert not ep.is_playing
    for _ in range(5):
        clock.tick()
    after = await asterisk.receive(5)
    # 0 voiced frames after flush: playout stopped at the next 20 ms tick, within the 40 ms budget
    assert [p.payload == SIL for p in after] == [True] * 5
    assert seq_diff(after[0].sequence, before[-1].sequence) == 1  # stream keeps going, no gap
    assert await utt.wait() is False and await nxt.wait() is False
    assert utt.state is UtteranceState.CANCELLED and utt.frames_sent == 10


async def test_given_real_shared_clock_when_flushed_mid_reply_then_sequence_numbers_after_flush_carry_silence(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    asterisk = peer_factory()
    ep = RtpEndpoint(allocator)  # process-wide shared clock, real time
    await ep.start()
    ep.set_remote(*asterisk.addr)
    ep.play_ulaw(voice(200))
    got = await asterisk.receive(5)
    ep.flush()
    last_seq_at_flush = (ep.ssrc, ep._seq)  # next sequence number to be used
    got += await asterisk.receive(5)
    await ep.close()
    after = [p for p in got if seq_diff(p.sequence, last_seq_at_flush[1]) >= 0]
    assert len(after) >= 4
    assert all(p.payload == SIL for p in after)
    assert MediaClock.shared().subscribers == 0 and MediaClock.shared()._task is None


async def test_given_cancelled_utterance_when_ticked_then_next_one_plays_and_wait_says_false(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    va, vb = voice(3, level=0x10), voice(2, level=0x50)
    a = ep.play_ulaw(va)
    b = ep.play_ulaw(vb)
    clock.tick()
    assert a.cancel() and not a.cancel()
    clock.tick()
    clock.tick()
    clock.tick()
    got = await asterisk.receive(4)
    assert [p.payload for p in got] == [va[:160], vb[:160], vb[160:], SIL]
    assert await a.wait() is False and await b.wait() is True


async def test_given_attacker_spraying_the_port_before_and_after_the_hint_when_call_runs_then_only_asterisk_is_heard_and_answered(
    allocator: PortAllocator, peer_factory: Any, until: Until, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 D3: a socket spraying well-formed RTP at the range took the call over (the service
    latched on the first packet) and received the agent's greeting. Only the address Asterisk said it
    sends from (UNICASTRTP_LOCAL_ADDRESS/PORT, given by set_remote) may feed or hear the call."""
    now = [0.0]
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, jitter_depth=1, monotonic=lambda: now[0])
    asterisk, attacker = peer_factory(), peer_factory()
    dest = ("127.0.0.1", ep.local_port)
    caplog.set_level("WARNING", logger="ari_app.media.endpoint")
    # before the externalMedia POST answered: nothing is trusted yet, however well-formed
    for i in range(5):
        attacker.send(build_rtp(RtpPacket(0, i, 160 * i, 666, b"\x22" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 5)
    ep.set_remote(*asterisk.addr)
    ep.play_ulaw(voice(3))
    # after the hint: the attacker keeps going, Asterisk starts sending
    for i in range(3):
        attacker.send(build_rtp(RtpPacket(0, 10 + i, 1600 + 160 * i, 666, b"\x22" * 160)), dest)
        asterisk.send(build_rtp(RtpPacket(0, 100 + i, 16000 + 160 * i, 99, b"\x11" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 11)
    for _ in range(3):
        clock.tick()
    got = await asterisk.receive(3)
    assert [p.payload for p in got] == [voice(3)[i * 160 : (i + 1) * 160] for i in range(3)]
    assert attacker.drain() == []  # not one agent packet went to the attacker
    assert ep.remote == asterisk.addr
    heard = []
    while (p := ep.read_payload_nowait()) is not None:
        heard.append(p)
    assert heard and all(p == b"\x11" * 160 for p in heard)
    assert ep.stats.foreign_packets == 8 and ep.stats.packets_in == 3
    # logged, but rate-limited: one line for the first foreign packet, none more within 10 s
    lines = [r.getMessage() for r in caplog.records if "not the call's media source" in r.getMessage()]
    assert len(lines) == 1 and f"127.0.0.1:{attacker.addr[1]}" in lines[0]
    now[0] = 11.0
    attacker.send(build_rtp(RtpPacket(0, 20, 4800, 666, b"\x22" * 160)), dest)
    await until(lambda: ep.stats.datagrams_in == 12)
    lines = [r.getMessage() for r in caplog.records if "not the call's media source" in r.getMessage()]
    assert len(lines) == 2 and "dropped 8 packet(s)" in lines[1] and "9 foreign in all" in lines[1]
    await ep.close()


async def test_given_host_mode_when_asterisk_port_differs_then_same_host_latches_and_others_stay_out(
    allocator: PortAllocator, peer_factory: Any, until: Until
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, jitter_depth=1, source_check="host")
    hint, natted = peer_factory(), peer_factory()  # same host (127.0.0.1), other port: a NAT's rewrite
    ep.set_remote(*hint.addr)
    dest = ("127.0.0.1", ep.local_port)
    natted.send(build_rtp(RtpPacket(0, 1, 160, 99, b"\x11" * 160)), dest)
    await until(lambda: ep.stats.packets_in == 1)
    hint.send(build_rtp(RtpPacket(0, 2, 320, 98, b"\x22" * 160)), dest)  # after the latch: foreign
    await until(lambda: ep.stats.datagrams_in == 2)
    clock.tick()
    assert ep.remote == natted.addr and len(await natted.receive(1)) == 1
    assert ep.stats.foreign_packets == 1
    await ep.close()


def test_given_ipv4_mapped_source_when_compared_then_same_host_as_the_hint() -> None:
    from ari_app.media.endpoint import _host_key, _host_keys

    assert _host_key("::ffff:127.0.0.1") == "127.0.0.1"
    assert "127.0.0.1" in _host_keys("localhost")
    with pytest.raises(ValueError, match="source_check"):
        RtpEndpoint(PortAllocator("127.0.0.1", 5000, 5001), source_check="open")  # type: ignore[arg-type]


async def test_given_no_remote_known_when_ticked_then_nothing_sent_and_queued_audio_waits(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock)
    utt = ep.play_ulaw(voice(1))
    clock.tick()
    assert ep.stats.packets_out == 0 and utt.state is UtteranceState.QUEUED
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    clock.tick()
    got = await asterisk.receive(1)
    assert got[0].marker and await utt.wait()
    await ep.close()


async def test_given_two_endpoints_when_started_then_random_independent_ssrc_seq_ts(
    allocator: PortAllocator,
) -> None:
    clock = MediaClock(manual=True)
    a = RtpEndpoint(allocator, clock=clock)
    b = RtpEndpoint(allocator, clock=clock)
    assert a.ssrc != b.ssrc and (a._seq, a._ts_base) != (b._seq, b._ts_base)


async def test_given_small_port_range_when_exhausted_then_clear_error_and_freed_port_is_reused(
    allocator: PortAllocator,
) -> None:
    base = allocator.port_min
    alloc = PortAllocator("127.0.0.1", base, base + 1)
    clock = MediaClock(manual=True)
    a, b = await started(alloc, clock), await started(alloc, clock)
    assert {a.local_port, b.local_port} == {base, base + 1}
    c = RtpEndpoint(alloc, clock=clock)
    with pytest.raises(PortsExhausted, match=f"{base}-{base + 1}"):
        await c.start()
    await a.close()
    await c.start()
    assert c.local_port == a.local_port and alloc.in_use == 2
    await b.close()
    await c.close()
    assert alloc.in_use == 0


async def test_given_port_taken_by_another_process_when_starting_then_skips_to_next_port(
    allocator: PortAllocator,
) -> None:
    base = allocator.port_min
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", base))
    try:
        alloc = PortAllocator("127.0.0.1", base, base + 3)
        ep = await started(alloc, MediaClock(manual=True))
        assert ep.local_port != base
        await ep.close()
    finally:
        squatter.close()


async def test_given_reader_waiting_when_closed_then_endpoint_closed_raised_and_resources_freed(
    allocator: PortAllocator,
) -> None:
    clock = MediaClock()  # real ticker task, owned by this clock
    ep = await started(allocator, clock)
    utt = ep.play_ulaw(voice(500))
    reader = asyncio.create_task(ep.read_frame())
    await asyncio.sleep(0)
    assert clock._task is not None
    await ep.close()
    with pytest.raises(EndpointClosed):
        await reader
    assert await utt.wait() is False
    assert clock._task is None and allocator.in_use == 0
    with pytest.raises(EndpointClosed):
        ep.play_ulaw(b"\x00")
    await ep.close()  # idempotent


async def test_given_caller_audio_when_read_then_pcm_frames_at_8k_and_raw_payloads(
    allocator: PortAllocator, peer_factory: Any, until: Until
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, jitter_depth=1)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)  # UNICASTRTP_LOCAL_ADDRESS/PORT from the externalMedia POST
    payloads = [voice(1, level=10 * k) for k in range(1, 4)]
    for k, p in enumerate(payloads):
        asterisk.send(build_rtp(RtpPacket(0, k, 160 * k, 5, p)), ("127.0.0.1", ep.local_port))
    await until(lambda: ep.stats.packets_in == 3)
    for _ in range(3):
        clock.tick()
    pcm = await ep.read_frame()
    assert pcm.dtype == np.int16 and pcm.shape == (160,)
    assert np.array_equal(pcm, ulaw_decode(payloads[0]))
    assert await ep.read_payload() == payloads[1]
    it = ep.payloads()
    assert await it.__anext__() == payloads[2]
    await ep.close()
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()


async def test_given_non_audio_wrong_size_and_dtmf_packets_when_received_then_counted_not_played(
    allocator: PortAllocator, peer_factory: Any, until: Until
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, jitter_depth=1)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)  # UNICASTRTP_LOCAL_ADDRESS/PORT from the externalMedia POST
    dest = ("127.0.0.1", ep.local_port)
    asterisk.send(build_rtp(RtpPacket(0, 1, 0, 5, SIL)), dest)
    asterisk.send(build_rtp(RtpPacket(13, 2, 0, 5, b"\x40")), dest)  # comfort noise
    asterisk.send(build_rtp(RtpPacket(8, 3, 0, 5, SIL)), dest)  # PCMA on a PCMU leg
    asterisk.send(build_rtp(RtpPacket(0, 4, 0, 5, SIL[:80])), dest)
    asterisk.send(build_rtp(RtpPacket(101, 5, 0, 5, bytes([1, 0x8A, 0x06, 0x40]))), dest)
    asterisk.send(build_rtp(RtpPacket(101, 6, 0, 5, b"\x01")), dest)
    asterisk.send(b"\x00" * 20, dest)
    await until(lambda: ep.stats.datagrams_in == 7)
    st = ep.stats
    assert (st.packets_in, st.non_audio_packets, st.wrong_size_packets, st.dtmf_events, st.bad_packets) == (6, 2, 1, 1, 2)
    ev = ep.dtmf_nowait()
    assert ev is not None and ev.digit == "1" and ev.end
    assert ep.bad_reasons == {"bad_dtmf": 1, "bad_version": 1}
    await ep.close()


async def test_given_slin16_endpoint_when_playing_and_receiving_then_big_endian_640_byte_frames(
    allocator: PortAllocator, peer_factory: Any, until: Until
) -> None:
    clock = MediaClock(manual=True)
    ep = await started(allocator, clock, codec="slin16", jitter_depth=1)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)  # UNICASTRTP_LOCAL_ADDRESS/PORT from the externalMedia POST
    pcm = (np.arange(320) * 50 - 8000).astype(np.int16)
    asterisk.send(build_rtp(RtpPacket(118, 1, 0, 5, pcm.astype(">i2").tobytes())), ("127.0.0.1", ep.local_port))
    await until(lambda: ep.stats.packets_in == 1)
    ep.play(pcm)
    clock.tick()
    got = await asterisk.receive(1)
    assert got[0].payload_type == 118 and got[0].payload == pcm.astype(">i2").tobytes()
    assert np.array_equal(await ep.read_frame(), pcm)
    with pytest.raises(MediaError):
        ep.play_ulaw(SIL)
    await ep.close()


def test_given_bad_port_range_or_codec_when_constructed_then_value_error() -> None:
    with pytest.raises(ValueError):
        PortAllocator("127.0.0.1", 5000, 4000)
    with pytest.raises(ValueError):
        RtpEndpoint(PortAllocator("127.0.0.1", 5000, 5001), codec="opus")  # type: ignore[arg-type]


async def test_given_stalled_loop_when_clock_catches_up_then_skips_ticks_and_timestamps_show_the_gap(
    allocator: PortAllocator, peer_factory: Any
) -> None:
    now = [100.0]
    clock = MediaClock(manual=True, time_fn=lambda: now[0])
    ep = await started(allocator, clock)
    asterisk = peer_factory()
    ep.set_remote(*asterisk.addr)
    clock.tick()
    clock._tick += 10  # what _run does after a stall longer than max_catchup ticks
    clock.tick()
    got = await asterisk.receive(2)
    assert seq_diff(got[1].sequence, got[0].sequence) == 1
    assert (got[1].timestamp - got[0].timestamp) & 0xFFFFFFFF == 11 * 160
    await ep.close()


def test_header_struct_sanity() -> None:
    assert struct.calcsize("!BBHII") == 12
