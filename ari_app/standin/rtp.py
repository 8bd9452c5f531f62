"""The stand-in's side of an externalMedia RTP leg: send like Asterisk, capture what comes back.

What the records show Asterisk doing on that leg (``../shared/asterisk/records/*-rtp-headers.json``):
payload type 0 (PCMU), 160-byte payloads every 20 ms, sequence +1 and timestamp +160 per packet, one
SSRC, the marker bit never set, no RTCP. Pacing is computed from a monotonic origin (deadline n is
origin + n × 20 ms), never by sleeping 20 ms in a loop. While muted (an ARI playback on the caller),
no packets are sent, as Asterisk does; timestamps keep counting time.

The header codec here is deliberately independent of ``ari_app.media.rtp``: the stand-in plays the
role of Asterisk, so it must not share the product's bugs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import cast

log = logging.getLogger("ari_app.standin.rtp")

FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
FRAME_S = 0.020
ULAW_SILENCE = b"\xff"
_HDR = struct.Struct("!BBHII")


@dataclass(frozen=True, slots=True)
class CapturedPacket:
    arrival: float  # loop.time() (monotonic)
    source: tuple[str, int]
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class SentPacket:
    at: float
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload_type: int
    length: int


def _ulaw_encode_sample(sample: int) -> int:
    # G.711 μ-law (bias 0x84, clip 32635), the textbook encoder; used only to load PCM WAV files
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample - 1  # G.711 takes the one's complement of negative samples
    sample = min(sample, 32635) + 0x84
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def load_ulaw_source(path: str | Path) -> bytes:
    """Caller audio for the stand-in: raw ``.ulaw`` (8 kHz μ-law, as in the records' ``*-rtp-in.ulaw``)
    or a WAV file (8 kHz mono, 16-bit PCM or μ-law)."""
    p = Path(path)
    data = p.read_bytes()
    if not data.startswith(b"RIFF"):
        return data
    fmt_tag = struct.unpack_from("<H", data, 20)[0] if len(data) >= 22 else 0
    if fmt_tag == 7:  # WAVE_FORMAT_MULAW: take the data chunk as is
        pos = 12
        while pos + 8 <= len(data):
            cid, size = struct.unpack_from("<4sI", data, pos)
            if cid == b"data":
                return data[pos + 8 : pos + 8 + size]
            pos += 8 + size + (size & 1)
        raise ValueError(f"{p}: μ-law WAV without a data chunk")
    with wave.open(str(p), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != 8000:
            raise ValueError(
                f"{p}: the stand-in plays 8 kHz mono 16-bit WAV or raw μ-law; got "
                f"{w.getframerate()} Hz, {w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit"
            )
        frames = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return bytes(_ulaw_encode_sample(s) for s in samples)


def parse_header(data: bytes) -> tuple[int, int, int, int, bool, bytes] | None:
    """(payload_type, seq, ts, ssrc, marker, payload) or None for a datagram that is not RTP v2."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data, 0)
    if b0 >> 6 != 2:
        return None
    pos = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if pos + 4 > len(data):
            return None
        words = struct.unpack_from("!H", data, pos + 2)[0]
        pos += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:
        pad = data[-1]
        if pad == 0 or pos + pad > end:
            return None
        end -= pad
    if pos > end:
        return None
    return b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), data[pos:end]


class RtpLeg(asyncio.DatagramProtocol):
    """One UDP socket standing for Asterisk's end of an externalMedia channel."""

    def __init__(
        self, remote: tuple[str, int], source: bytes | None = None, rng: random.Random | None = None
    ) -> None:
        rng = rng or random.Random()
        self.remote = remote
        self.source = source or ULAW_SILENCE * FRAME_BYTES
        self.ssrc = rng.getrandbits(32)
        self.seq0 = rng.getrandbits(16)
        self.ts0 = rng.getrandbits(32)
        self.payload_type = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("127.0.0.1", 0)
        self.captured: list[CapturedPacket] = []
        self.sent: list[SentPacket] = []
        self.bad_packets = 0
        self.muted = False
        self.sending = False
        self._offset = 0
        self._sent_count = 0
        self._once = False

    async def open(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self.transport = transport
        sock = transport.get_extra_info("sockname")
        self.local = (str(sock[0]), int(sock[1]))
        return self.local[1]

    # receive side --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        parsed = parse_header(data)
        if parsed is None:
            self.bad_packets += 1
            return
        pt, seq, ts, ssrc, marker, payload = parsed
        arrival = asyncio.get_running_loop().time()
        self.captured.append(CapturedPacket(arrival, (addr[0], addr[1]), pt, seq, ts, ssrc, marker, payload))

    def error_received(self, exc: Exception) -> None:
        log.debug("stand-in RTP leg %s: %s", self.local, exc)

    def received_audio(self) -> bytes:
        return b"".join(p.payload for p in self.captured if p.payload_type == 0)

    # send side ----------------------------------------------------------------------------------

    def say(self, ulaw: bytes) -> None:
        """Play ``ulaw`` once from the next frame on, then silence: a caller taking a turn (demo, tests)."""
        self.source = ulaw
        self._offset = 0
        self._once = True

    @property
    def saying(self) -> bool:
        """True while a :meth:`say` utterance is still being sent."""
        return self._once and self._offset < len(self.source)

    def _next_payload(self) -> bytes:
        if self._once and self._offset >= len(self.source):
            return ULAW_SILENCE * FRAME_BYTES
        src = self.source
        chunk = src[self._offset : self._offset + FRAME_BYTES]
        self._offset += FRAME_BYTES
        if self._offset >= len(src) and not self._once:
            self._offset = 0
        if len(chunk) < FRAME_BYTES:
            chunk += ULAW_SILENCE * (FRAME_BYTES - len(chunk))
        return chunk

    async def send_loop(self) -> None:
        """Send a packet every 20 ms from a monotonic origin until cancelled."""
        loop = asyncio.get_running_loop()
        origin = loop.time() + FRAME_S  # Asterisk's first packet arrived ~20 ms after the bridge
        tick = 0
        self.sending = True
        try:
            while True:
                delay = origin + tick * FRAME_S - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                payload = self._next_payload()
                if not self.muted and self.transport is not None and not self.transport.is_closing():
                    seq = (self.seq0 + self._sent_count) & 0xFFFF
                    ts = (self.ts0 + tick * FRAME_BYTES) & 0xFFFFFFFF
                    header = _HDR.pack(0x80, self.payload_type & 0x7F, seq, ts, self.ssrc)
                    self.transport.sendto(header + payload, self.remote)
                    self.sent.append(
                        SentPacket(loop.time(), seq, ts, self.ssrc, False, self.payload_type, len(payload))
                    )
                    self._sent_count += 1
                tick += 1
        finally:
            self.sending = False

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
