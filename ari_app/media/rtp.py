"""Sans-I/O RTP (RFC 3550) header codec.

Pure functions on bytes: the transport decides what to do with a :class:`RtpParseError`.
Padding: ``padding`` is the total number of padding octets (including the trailing count octet).
:func:`build_rtp` writes the filler octets as zeros (as RFC 3550 senders do), so
``build_rtp(parse_rtp(x)) == x`` holds byte for byte whenever the filler was zero; non-zero filler is
accepted on parse and normalised to zero on build.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ari_app.media.errors import RtpParseError, RtpParseReason

RTP_VERSION = 2
HEADER_LEN = 12
_FIXED = struct.Struct("!BBHII")
_EXT_HDR = struct.Struct("!HH")
_U32 = struct.Struct("!I")

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; field ranges are checked on build, not on construction, to keep parsing cheap."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0


def parse_rtp(data: bytes) -> RtpPacket:
    """Decode one datagram; raises :class:`RtpParseError` naming the first malformed part found."""
    n = len(data)
    if n < HEADER_LEN:
        raise RtpParseError(RtpParseReason.TOO_SHORT, f"{n} bytes < {HEADER_LEN}")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
    if b0 >> 6 != RTP_VERSION:
        raise RtpParseError(RtpParseReason.BAD_VERSION, f"version {b0 >> 6}")
    cc = b0 & 0x0F
    pos = HEADER_LEN + 4 * cc
    if pos > n:
        raise RtpParseError(RtpParseReason.CSRC_OVERRUN, f"{cc} CSRCs need {pos} bytes, have {n}")
    csrcs: tuple[int, ...] = struct.unpack_from(f"!{cc}I", data, HEADER_LEN) if cc else ()
    extension: tuple[int, bytes] | None = None
    if b0 & 0x10:
        if pos + 4 > n:
            raise RtpParseError(RtpParseReason.EXTENSION_OVERRUN, "extension header cut short")
        profile, words = _EXT_HDR.unpack_from(data, pos)
        end = pos + 4 + 4 * words
        if end > n:
            raise RtpParseError(
                RtpParseReason.EXTENSION_OVERRUN, f"extension of {words} words needs {end} bytes, have {n}"
            )
        extension = (profile, bytes(data[pos + 4 : end]))
        pos = end
    padding = 0
    if b0 & 0x20:
        padding = data[-1] if n > pos else 0
        if padding == 0 or pos + padding > n:
            raise RtpParseError(
                RtpParseReason.BAD_PADDING, f"padding count {padding} with {n - pos} bytes after header"
            )
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=bytes(data[pos : n - padding]),
        marker=bool(b1 & 0x80),
        csrcs=csrcs,
        extension=extension,
        padding=padding,
    )


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"RTP {name} {value} does not fit in {bits} bits")


def build_rtp(pkt: RtpPacket) -> bytes:
    """Encode a packet; raises ``ValueError`` (our bug, not the peer's) when a field is out of range."""
    _check_range("payload_type", pkt.payload_type, 7)
    _check_range("sequence", pkt.sequence, 16)
    _check_range("timestamp", pkt.timestamp, 32)
    _check_range("ssrc", pkt.ssrc, 32)
    if len(pkt.csrcs) > 15:
        raise ValueError(f"at most 15 CSRCs, got {len(pkt.csrcs)}")
    for c in pkt.csrcs:
        _check_range("csrc", c, 32)
    if not 0 <= pkt.padding <= 255:
        raise ValueError(f"padding {pkt.padding} not in 0..255")
    b0 = (RTP_VERSION << 6) | len(pkt.csrcs)
    if pkt.padding:
        b0 |= 0x20
    parts = [b""]
    if pkt.extension is not None:
        b0 |= 0x10
        profile, body = pkt.extension
        _check_range("extension profile", profile, 16)
        if len(body) % 4:
            raise ValueError(f"extension body must be whole 32-bit words, got {len(body)} bytes")
        _check_range("extension length", len(body) // 4, 16)
        parts.append(_EXT_HDR.pack(profile, len(body) // 4) + body)
    parts[0] = _FIXED.pack(
        b0, (0x80 if pkt.marker else 0) | pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc
    ) + b"".join(_U32.pack(c) for c in pkt.csrcs)
    parts.append(pkt.payload)
    if pkt.padding:
        parts.append(bytes(pkt.padding - 1) + bytes((pkt.padding,)))
    return b"".join(parts)


def build_rtp_header(marker: bool, payload_type: int, sequence: int, timestamp: int, ssrc: int) -> bytes:
    """Fixed 12-byte header without checks: the paced sender's hot path, where fields are already masked."""
    return _FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc)


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between 16-bit sequence numbers, in -32768..32767 (RFC 3550 A.1 wrap)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between 32-bit RTP timestamps."""
    return ((a - b + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
