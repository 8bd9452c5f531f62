"""Typed errors of the media plane.

Parsing errors are *theirs* (a peer sent bytes we cannot use): the transport counts them and drops the
datagram; they never escape the receive path. Port exhaustion and use-after-close are *ours*.
"""

from __future__ import annotations

import enum


class MediaError(Exception):
    """Base of every error raised by ``ari_app.media``."""


class RtpParseReason(enum.Enum):
    """Why a datagram is not a usable RTP packet; one member per malformed form, so counters can say which."""

    TOO_SHORT = "too_short"
    BAD_VERSION = "bad_version"
    CSRC_OVERRUN = "csrc_overrun"
    EXTENSION_OVERRUN = "extension_overrun"
    BAD_PADDING = "bad_padding"


class RtpParseError(MediaError, ValueError):
    """A datagram that cannot be decoded as RTP; the remote side is at fault, a retry cannot help."""

    def __init__(self, reason: RtpParseReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class DtmfParseError(MediaError, ValueError):
    """An RFC 4733 telephone-event payload that cannot be decoded."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class PortsExhausted(MediaError):
    """Every UDP port of the configured RTP range is taken: refuse the call rather than share a port."""

    def __init__(self, host: str, port_min: int, port_max: int) -> None:
        self.host = host
        self.port_min = port_min
        self.port_max = port_max
        super().__init__(
            f"no free RTP port on {host} in {port_min}-{port_max}: all "
            f"{port_max - port_min + 1} are in use; widen the range or lower concurrent calls"
        )


class EndpointClosed(MediaError):
    """The endpoint was closed; readers waiting for audio get this instead of hanging forever."""
