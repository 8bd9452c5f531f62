"""The brain contract the speech loop, the IVR and the tests all program against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ari_app.brain.context import CallContext
    from ari_app.brain.events import BrainEvent

InputMode = Literal["speech", "dtmf", "text"]


class BrainError(Exception):
    """A brain could not produce a reply; ``retryable`` says whether asking again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Brain(Protocol):
    """Turn the caller's words into events. ``respond`` yields ``Say`` sentence by sentence, as early
    as each is ready, so the first one can be synthesised while the brain is still working."""

    name: str

    def greet(self, ctx: CallContext) -> AsyncIterator[BrainEvent]: ...

    def respond(
        self, ctx: CallContext, text: str, mode: InputMode = "speech"
    ) -> AsyncIterator[BrainEvent]: ...
