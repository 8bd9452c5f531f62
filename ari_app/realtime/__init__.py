"""Realtime mode: the call's G.711 audio straight to the OpenAI Realtime API and back (DESIGN.md §4)."""

from ari_app.realtime.bridge import (
    OutcomeReason,
    RealtimeBridge,
    RealtimeMedia,
    RealtimeOutcome,
    ToolRunner,
)
from ari_app.realtime.errors import (
    RealtimeBridgeError,
    RealtimeConfigError,
    RealtimeConnectError,
    RealtimeConnectionLost,
    RealtimeProtocolError,
    RealtimeServerError,
    RealtimeTimeout,
)

__all__ = [
    "OutcomeReason",
    "RealtimeBridge",
    "RealtimeBridgeError",
    "RealtimeConfigError",
    "RealtimeConnectError",
    "RealtimeConnectionLost",
    "RealtimeMedia",
    "RealtimeOutcome",
    "RealtimeProtocolError",
    "RealtimeServerError",
    "RealtimeTimeout",
    "ToolRunner",
]
