"""Calls over ARI: the lifecycle state machine, the per-call object and the per-server manager."""

from ari_app.calls.call import (
    OWN_ID_PREFIX,
    Call,
    CallOptions,
    CallSetupError,
    Conversation,
    TransferFailed,
    TransferOutcome,
)
from ari_app.calls.manager import CallManager, OriginateResult
from ari_app.calls.media import EndpointFactory, MediaEndpoint
from ari_app.calls.state import CallState, IllegalTransition, Lifecycle

__all__ = [
    "OWN_ID_PREFIX",
    "Call",
    "CallManager",
    "CallOptions",
    "CallSetupError",
    "CallState",
    "Conversation",
    "EndpointFactory",
    "IllegalTransition",
    "Lifecycle",
    "MediaEndpoint",
    "OriginateResult",
    "TransferFailed",
    "TransferOutcome",
]
