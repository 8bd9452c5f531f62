"""Typed errors of the Realtime bridge.

They never escape :meth:`RealtimeBridge.run`: they are carried in the outcome, so the call that owns
the bridge can decide (fall back to the local pipeline, transfer, apologise). Each says whose fault it
is (``remote``: the Realtime service or the network; otherwise our configuration or code) and whether
trying again may help (``retryable``), because that is what the fallback decision turns on.
"""

from __future__ import annotations


class RealtimeBridgeError(Exception):
    """Base of every error of ``ari_app.realtime``."""

    remote: bool = True
    retryable: bool = False

    def __init__(self, message: str, *, remote: bool | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        if remote is not None:
            self.remote = remote
        if retryable is not None:
            self.retryable = retryable


class RealtimeConfigError(RealtimeBridgeError):
    """Our side is misconfigured (no API key, a media port without μ-law access); retrying won't help."""

    remote = False
    retryable = False


class RealtimeConnectError(RealtimeBridgeError):
    """The WebSocket could not be opened (refused, TLS, HTTP status on upgrade, open timeout)."""

    retryable = True


class RealtimeConnectionLost(RealtimeBridgeError):
    """The WebSocket closed while the conversation was still going."""

    retryable = True


class RealtimeTimeout(RealtimeBridgeError):
    """The service stayed silent where the protocol promises an answer (session.updated, a reply)."""

    retryable = True


class RealtimeServerError(RealtimeBridgeError):
    """The service sent an ``error`` event (or a failed response) the conversation cannot go on after."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error_type: str | None = None,
        client_event_type: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        # An invalid_request_error points at something we sent; a server_error is theirs and may pass.
        remote = error_type != "invalid_request_error"
        super().__init__(message, remote=remote, retryable=remote if retryable is None else retryable)
        self.code = code
        self.error_type = error_type
        self.client_event_type = client_event_type


class RealtimeProtocolError(RealtimeBridgeError):
    """A server event we could not make sense of (missing fields, bad base64)."""

    retryable = False
