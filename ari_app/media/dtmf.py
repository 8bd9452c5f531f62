"""Sans-I/O RFC 4733 telephone-event payloads (DTMF named events 0-15).

Asterisk's externalMedia leg does not carry them (DTMF arrives as ARI ``ChannelDtmfReceived``), but a
SIP trunk or a future WebRTC leg does, so the codec is here and tested on bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ari_app.media.errors import DtmfParseError

_EVENT = struct.Struct("!BBH")
EVENT_LEN = 4

_DIGITS = "0123456789*#ABCD"
DIGIT_TO_EVENT: dict[str, int] = {d: i for i, d in enumerate(_DIGITS)}
EVENT_TO_DIGIT: dict[int, str] = dict(enumerate(_DIGITS))


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One event report; ``duration`` is in RTP timestamp units, ``volume`` is -dBm0 (0..63)."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0
    reserved: bool = False

    @property
    def digit(self) -> str | None:
        """The DTMF key, or ``None`` for non-DTMF events (e.g. 32+ fax tones)."""
        return EVENT_TO_DIGIT.get(self.event)


def digit_to_event(digit: str) -> int:
    """Event code of a DTMF key; raises ``ValueError`` for anything but 0-9 * # A-D."""
    try:
        return DIGIT_TO_EVENT[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None


def event_to_digit(event: int) -> str:
    """DTMF key of an event code; raises ``ValueError`` for codes outside 0..15."""
    try:
        return EVENT_TO_DIGIT[event]
    except KeyError:
        raise ValueError(f"not a DTMF event code: {event}") from None


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Decode the first 4-byte event block; extra (redundant) blocks are ignored as RFC 4733 allows."""
    if len(payload) < EVENT_LEN:
        raise DtmfParseError("too_short", f"{len(payload)} bytes < {EVENT_LEN}")
    event, flags, duration = _EVENT.unpack_from(payload, 0)
    return TelephoneEvent(
        event=event,
        end=bool(flags & 0x80),
        reserved=bool(flags & 0x40),
        volume=flags & 0x3F,
        duration=duration,
    )


def build_telephone_event(ev: TelephoneEvent) -> bytes:
    """Encode one event block; raises ``ValueError`` when a field does not fit."""
    if not 0 <= ev.event <= 255:
        raise ValueError(f"event {ev.event} not in 0..255")
    if not 0 <= ev.volume <= 63:
        raise ValueError(f"volume {ev.volume} not in 0..63")
    if not 0 <= ev.duration <= 0xFFFF:
        raise ValueError(f"duration {ev.duration} not in 0..65535")
    flags = (0x80 if ev.end else 0) | (0x40 if ev.reserved else 0) | ev.volume
    return _EVENT.pack(ev.event, flags, ev.duration)
