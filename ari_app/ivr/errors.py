"""Errors of the IVR package: one base, so a caller can catch everything the IVR raises in one place.

``MenuConfigError`` is the IT admin's fault (fix the file, reload); ``IllegalEvent`` is ours (an
executor fed the engine an event its state does not accept) and is never helped by a retry.
"""

from __future__ import annotations


class IvrError(Exception):
    """Base of every error raised by :mod:`ari_app.ivr`."""


class MenuConfigError(IvrError):
    """The menu file is wrong; ``str()`` is one console line naming the menu and what to fix."""

    def __init__(self, message: str, menu: str | None = None) -> None:
        super().__init__(message)
        self.menu = menu


class IllegalEvent(IvrError):
    """An event arrived in a state whose transition table has no row for it (a bug in an executor)."""

    def __init__(self, state: str, event: object) -> None:
        super().__init__(f"IVR event {type(event).__name__} is not allowed in state {state}")
        self.state = state
        self.event = event
