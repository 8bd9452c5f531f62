"""Hypothesis fuzz at a live UDP socket: 10 000 datagrams, nothing escapes, every bad one counted."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ari_app.media.clock import MediaClock
from ari_app.media.dtmf import parse_telephone_event
from ari_app.media.endpoint import PortAllocator, RtpEndpoint
from ari_app.media.errors import DtmfParseError, RtpParseError
from ari_app.media.rtp import RtpPacket, build_rtp, parse_rtp

EXAMPLES = 10_000
# Datagrams go out in bursts of BATCH, each burst waited for as a whole: the inputs are the same
# 10 000 draws from the same strategies, without a thread hand-over and a Hypothesis test case per
# datagram (most of the test's time). A burst is far below the socket's receive buffer, so none is
# dropped before the endpoint has seen it, and a failing burst still shrinks to its one bad datagram.
BATCH = 25


class LiveEndpoint:
    """An endpoint on a real ticking clock, in its own event-loop thread, fed from this thread."""

    def __init__(self, allocator: PortAllocator) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _l, ctx: self.errors.append(ctx))
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)
        self.thread.start()
        self.clock = MediaClock()
        self.ep = self._call(self._make(allocator))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.loop.call_soon_threadsafe(self.ep.set_remote, *self.sock.getsockname())
        self.dest = ("127.0.0.1", self.ep.local_port)
        self.sent = 0
        self.expected_bad = 0

    async def _make(self, allocator: PortAllocator) -> RtpEndpoint:
        ep = RtpEndpoint(allocator, clock=self.clock)
        await ep.start()
        return ep

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def send(self, *burst: bytes) -> None:
        """Send the datagrams and wait until the endpoint has taken in every one."""
        for data in burst:
            self.sock.sendto(data, self.dest)
        self.sent += len(burst)
        end = time.monotonic() + 5
        while self.ep.stats.datagrams_in < self.sent:
            if time.monotonic() > end:
                raise AssertionError(f"datagram {self.sent} never reached the endpoint")
            time.sleep(20e-6)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.ep.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        self.sock.close()


@pytest.fixture
def live(allocator: PortAllocator) -> Iterator[LiveEndpoint]:
    le = LiveEndpoint(allocator)
    yield le
    le.close()


def expected_bad(data: bytes) -> int:
    """Independent classification: is this datagram one the endpoint must count as bad?"""
    try:
        pkt = parse_rtp(data)
    except RtpParseError:
        return 1
    if pkt.payload_type == 101:
        try:
            parse_telephone_event(pkt.payload)
        except DtmfParseError:
            return 1
    return 0


def mutate(t: tuple[bytes, int, int, int]) -> bytes:
    wire, cut, b0, pos = t
    data = bytearray(wire[: cut % (len(wire) + 1)])
    if data:
        data[pos % len(data)] = b0
    return bytes(data)


rtp_like = st.builds(
    RtpPacket,
    payload_type=st.sampled_from([0, 0, 0, 8, 13, 101, 118, 127]),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    payload=st.one_of(st.just(b"\xff" * 160), st.binary(max_size=200)),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=3).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])),
    padding=st.integers(0, 8),
).map(build_rtp)
datagrams = st.one_of(
    st.binary(max_size=300),
    rtp_like,
    st.tuples(rtp_like, st.integers(0, 400), st.integers(0, 255), st.integers(0, 40)).map(mutate),
)


def test_given_10000_random_datagrams_at_the_socket_when_received_then_nothing_escapes_and_bad_ones_counted(
    live: LiveEndpoint,
) -> None:
    # lock symmetric RTP onto the fuzzing socket first, so every datagram reaches the parser
    live.send(build_rtp(RtpPacket(0, 1, 160, 42, b"\xff" * 160)))

    @settings(max_examples=EXAMPLES // BATCH, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(burst=st.lists(datagrams, min_size=BATCH, max_size=BATCH))
    def fuzz(burst: list[bytes]) -> None:
        live.expected_bad += sum(expected_bad(data) for data in burst)
        live.send(*burst)

    fuzz()
    st_ = live.ep.stats
    assert live.sent >= EXAMPLES
    assert live.errors == [] and live.clock.callback_errors == 0
    assert st_.bad_packets == live.expected_bad > 100
    assert st_.foreign_packets == 0
    # every class of input was drawn: each way of being malformed, bad and good DTMF, other payload
    # types, PCMU of the wrong size (so the bursts did not narrow what the datagrams cover)
    reasons = {"too_short", "bad_version", "bad_padding", "csrc_overrun", "extension_overrun", "bad_dtmf"}
    assert reasons <= set(live.ep.bad_reasons), live.ep.bad_reasons
    assert st_.dtmf_events > 0 and st_.non_audio_packets > 0 and st_.wrong_size_packets > 0
    # still alive: the clock ticks, packets keep leaving, a valid packet is still accepted
    out_before, in_before = st_.packets_out, st_.packets_in
    live.send(build_rtp(RtpPacket(0, 7, 1120, 42, b"\xff" * 160)))
    end = time.monotonic() + 5
    while live.ep.stats.packets_out < out_before + 3 and time.monotonic() < end:
        time.sleep(0.005)
    assert live.ep.stats.packets_out >= out_before + 3
    assert live.ep.stats.packets_in == in_before + 1
    assert not live.ep.closed
