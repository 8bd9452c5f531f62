"""Media plane: RTP to and from Asterisk's externalMedia channel (see DESIGN.md section 3)."""

from ari_app.media.clock import MediaClock
from ari_app.media.endpoint import EndpointStats, PortAllocator, RtpEndpoint, Utterance, UtteranceState
from ari_app.media.errors import (
    DtmfParseError,
    EndpointClosed,
    MediaError,
    PortsExhausted,
    RtpParseError,
    RtpParseReason,
)
from ari_app.media.recorder import CallRecorder
from ari_app.media.rtp import RtpPacket, build_rtp, parse_rtp, seq_diff

__all__ = [
    "CallRecorder",
    "DtmfParseError",
    "EndpointClosed",
    "EndpointStats",
    "MediaClock",
    "MediaError",
    "PortAllocator",
    "PortsExhausted",
    "RtpEndpoint",
    "RtpPacket",
    "RtpParseError",
    "RtpParseReason",
    "Utterance",
    "UtteranceState",
    "build_rtp",
    "parse_rtp",
    "seq_diff",
]
