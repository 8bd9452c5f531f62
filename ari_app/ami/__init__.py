"""AMI monitor: trunk registrations, endpoint state and channel count for health and metrics."""

from ari_app.ami.monitor import AmiCommandError, AmiMonitor
from ari_app.ami.protocol import (
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    build_action,
    serialize,
)

__all__ = [
    "AmiAuthError",
    "AmiCommandError",
    "AmiConnectionError",
    "AmiError",
    "AmiMessage",
    "AmiMonitor",
    "AmiParser",
    "AmiProtocolError",
    "build_action",
    "serialize",
]
