"""RTP header codec on bytes: recorded Asterisk packets, generated packets, every malformed form."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ari_app.media.errors import RtpParseError, RtpParseReason
from ari_app.media.rtp import RtpPacket, build_rtp, parse_rtp, seq_diff, ts_diff

SCENARIOS = ["basic", "dtmf", "ari-hangup", "playback-hangup"]


def wire_from_record(h: dict[str, Any], payload: bytes) -> bytes:
    """Rebuild the datagram from the recorded header fields, independently of ``build_rtp``."""
    assert h["csrc_count"] == 0 and not h["extension"] and not h["padding"]
    b0 = h["version"] << 6
    b1 = (h["marker"] << 7) | h["payload_type"]
    return struct.pack("!BBHII", b0, b1, h["seq"], h["timestamp"], h["ssrc"]) + payload


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_given_recorded_asterisk_packets_when_parsed_and_rebuilt_then_bytes_are_identical(
    scenario: str, records_dir: Path, headers_of: Callable[[str], dict[str, Any]]
) -> None:
    headers = headers_of(scenario)["first_50_headers"]
    audio = (records_dir / f"{scenario}-rtp-in.ulaw").read_bytes()
    assert len(headers) == 50
    for h in headers:
        n = h["n"] - 1
        payload = audio[n * 160 : (n + 1) * 160]
        assert len(payload) == h["payload_len"]
        wire = wire_from_record(h, payload)
        pkt = parse_rtp(wire)
        assert (pkt.sequence, pkt.timestamp, pkt.ssrc, pkt.payload_type, pkt.marker) == (
            h["seq"], h["timestamp"], h["ssrc"], h["payload_type"], bool(h["marker"]),
        )
        assert pkt.payload == payload
        assert build_rtp(pkt) == wire


u32 = st.integers(0, 2**32 - 1)
packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=400),
    marker=st.booleans(),
    csrcs=st.lists(u32, max_size=15).map(tuple),
    extension=st.none()
    | st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4])),
    padding=st.integers(0, 255),
)


@settings(max_examples=500)
@given(pkt=packets)
def test_given_any_valid_packet_when_built_and_parsed_then_fields_and_bytes_round_trip(pkt: RtpPacket) -> None:
    wire = build_rtp(pkt)
    back = parse_rtp(wire)
    assert back == pkt
    assert build_rtp(back) == wire


@settings(max_examples=300)
@given(pkt=packets.filter(lambda p: p.padding > 0), filler=st.binary(min_size=254, max_size=254))
def test_given_nonzero_padding_filler_when_parsed_then_count_kept_and_rebuild_writes_zero_filler(
    pkt: RtpPacket, filler: bytes
) -> None:
    wire = bytearray(build_rtp(pkt))
    start = len(wire) - pkt.padding
    wire[start : len(wire) - 1] = filler[: pkt.padding - 1]
    back = parse_rtp(bytes(wire))
    assert back.padding == pkt.padding and back.payload == pkt.payload
    rebuilt = build_rtp(back)
    assert rebuilt[:start] == wire[:start] and rebuilt[-1] == pkt.padding
    assert rebuilt[start:-1] == bytes(pkt.padding - 1)


def header(b0: int = 0x80, b1: int = 0) -> bytes:
    return struct.pack("!BBHII", b0, b1, 1, 2, 3)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", RtpParseReason.TOO_SHORT),
        (header()[:11], RtpParseReason.TOO_SHORT),
        (header(b0=0x40) + b"x" * 160, RtpParseReason.BAD_VERSION),
        (header(b0=0x00), RtpParseReason.BAD_VERSION),
        (header(b0=0xC0), RtpParseReason.BAD_VERSION),
        (header(b0=0x81), RtpParseReason.CSRC_OVERRUN),
        (header(b0=0x8F) + bytes(56), RtpParseReason.CSRC_OVERRUN),
        (header(b0=0x90), RtpParseReason.EXTENSION_OVERRUN),
        (header(b0=0x90) + b"\xbe\xde", RtpParseReason.EXTENSION_OVERRUN),
        (header(b0=0x90) + b"\xbe\xde\x00\x02" + bytes(7), RtpParseReason.EXTENSION_OVERRUN),
        (header(b0=0x91) + bytes(4) + b"\xbe\xde\x00\x01", RtpParseReason.EXTENSION_OVERRUN),
        (header(b0=0xA0), RtpParseReason.BAD_PADDING),
        (header(b0=0xA0) + b"abc\x00", RtpParseReason.BAD_PADDING),
        (header(b0=0xA0) + b"abc\x05", RtpParseReason.BAD_PADDING),
        (header(b0=0xB0) + b"\x00\x01\x00\x01" + b"\x00\x00\x00\x09", RtpParseReason.BAD_PADDING),
    ],
)
def test_given_malformed_datagram_when_parsed_then_typed_error_names_the_fault(
    data: bytes, reason: RtpParseReason
) -> None:
    with pytest.raises(RtpParseError) as info:
        parse_rtp(data)
    assert info.value.reason is reason


def test_given_padding_that_exactly_fills_the_rest_when_parsed_then_payload_is_empty() -> None:
    pkt = parse_rtp(header(b0=0xA0) + b"\x00\x00\x00\x04")
    assert pkt.payload == b"" and pkt.padding == 4


@pytest.mark.parametrize(
    "bad",
    [
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0),
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0),
        RtpPacket(payload_type=0, sequence=0, timestamp=2**32, ssrc=0),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=-1),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, csrcs=tuple(range(16))),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension=(1, b"abc")),
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, padding=256),
    ],
)
def test_given_out_of_range_field_when_built_then_value_error(bad: RtpPacket) -> None:
    with pytest.raises(ValueError):
        build_rtp(bad)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(5, 3, 2), (3, 5, -2), (0, 65535, 1), (65535, 0, -1), (10, 65530, 16), (32767, 0, 32767), (32768, 0, -32768)],
)
def test_given_sequence_numbers_across_the_wrap_when_diffed_then_signed_distance(a: int, b: int, expected: int) -> None:
    assert seq_diff(a, b) == expected


@given(a=st.integers(0, 0xFFFF), d=st.integers(-32768, 32767))
def test_given_any_distance_when_added_mod_2_16_then_seq_diff_recovers_it(a: int, d: int) -> None:
    assert seq_diff((a + d) & 0xFFFF, a) == d


def test_given_timestamps_across_the_32_bit_wrap_when_diffed_then_signed_distance() -> None:
    assert ts_diff(80, 2**32 - 80) == 160
    assert ts_diff(2**32 - 80, 80) == -160
