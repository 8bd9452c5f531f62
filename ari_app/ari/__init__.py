"""ARI (Asterisk REST Interface) client: typed REST calls, typed events, reconnecting WebSocket."""

from ari_app.ari.backoff import Backoff
from ari_app.ari.client import AriClient, StreamConnected, StreamDisconnected, StreamItem
from ari_app.ari.errors import (
    AriAppRefused,
    AriAuthError,
    AriBadRequest,
    AriConflict,
    AriError,
    AriEventDecodeError,
    AriNotFound,
    AriProtocolError,
    AriServerError,
    AriUnreachable,
)
from ari_app.ari.events import Event, UnknownEvent, decode_event

__all__ = [
    "AriAppRefused",
    "AriAuthError",
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriError",
    "AriEventDecodeError",
    "AriNotFound",
    "AriProtocolError",
    "AriServerError",
    "AriUnreachable",
    "Backoff",
    "Event",
    "StreamConnected",
    "StreamDisconnected",
    "StreamItem",
    "UnknownEvent",
    "decode_event",
]
