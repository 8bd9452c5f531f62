"""Typed errors of the ARI client.

Each error says who is at fault and whether a retry can help (``transient``). The client maps HTTP
statuses to them in one place (:func:`error_for_status`), the event transport uses ``transient`` to
decide between "back off and reconnect" and "stop with a clear message".

=====================  =======================  ==========  ===================================
error                  cause                    transient   whose fault
=====================  =======================  ==========  ===================================
AriBadRequest          400                      no          ours (a request the API forbids)
AriAuthError           401 / 403                no          configuration (user, password)
AriNotFound            404                      no          nobody: the channel/bridge is gone
AriConflict            409 / 412 / 422          no          state: e.g. "Channel not in Stasis"
AriServerError         5xx                      yes         Asterisk
AriUnreachable         connect/timeout/DNS      yes         network or Asterisk down
AriAppRefused          WS refused / replaced    no          configuration (app name, 2 clients)
AriProtocolError       unreadable response      no          theirs
AriEventDecodeError    malformed event JSON     n/a         theirs (the frame is logged/skipped)
=====================  =======================  ==========  ===================================
"""

from __future__ import annotations

from typing import Any


class AriError(Exception):
    """Base of every ARI client error. ``transient`` is True when retrying later may succeed."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path  # never carries credentials: the client sends them as a header only
        self.body = body
        where = f"{method} {path}".strip()
        prefix = f"{where} -> {status}: " if status is not None else (f"{where}: " if where else "")
        super().__init__(f"{prefix}{message}")


class AriBadRequest(AriError):
    """400: the request is not allowed by the API (a bug on our side); retrying cannot help."""


class AriAuthError(AriError):
    """401/403: wrong ARI user or password, or a read-only user; fix the configuration."""


class AriNotFound(AriError):
    """404: the channel, bridge or playback does not exist (any more)."""


class AriConflict(AriError):
    """409/412/422: the object is in the wrong state for this operation (e.g. not in Stasis yet)."""


class AriServerError(AriError):
    """5xx: Asterisk failed to do it; a later retry may succeed."""

    transient = True


class AriUnreachable(AriError):
    """No answer from Asterisk (connection refused, reset, timeout); a later retry may succeed."""

    transient = True


class AriAppRefused(AriError):
    """Asterisk refused our Stasis application (bad app name) or another client replaced it."""


class AriProtocolError(AriError):
    """Asterisk answered with something we cannot read (not JSON where JSON was promised)."""


class AriEventDecodeError(AriError):
    """One WebSocket frame is not a valid ARI event; the transport logs it, counts it and skips it."""

    def __init__(self, message: str, text: str = "") -> None:
        self.text = text[:200]
        super().__init__(message)


def error_for_status(status: int, message: str, *, method: str, path: str, body: Any = None) -> AriError:
    """The typed error for an HTTP error status (anything >= 400)."""
    cls: type[AriError]
    if status == 400:
        cls = AriBadRequest
    elif status in (401, 403):
        cls = AriAuthError
    elif status == 404:
        cls = AriNotFound
    elif status in (409, 412, 422):
        cls = AriConflict
    elif status >= 500:
        cls = AriServerError
    elif status in (408, 429):
        cls = AriServerError  # "try again later" statuses behave like Asterisk trouble
    else:
        cls = AriError
    return cls(message, status=status, method=method, path=path, body=body)
