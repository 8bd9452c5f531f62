"""Pick the brain the settings ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ari_app.brain.base import Brain
from ari_app.brain.embedded import EmbeddedBrain
from ari_app.brain.llm import LlmBrain

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from ari_app.settings import Settings


def make_brain(settings: Settings, *, client: AsyncOpenAI | None = None) -> Brain:
    """``embedded`` (default) or ``llm`` with the embedded brain as its fallback.

    ``realtime`` audio goes straight to the OpenAI Realtime bridge in the speech package; typed or
    keyed input on such a call (the IVR's "talk to the operator") uses the embedded brain.
    """
    embedded = EmbeddedBrain()
    if settings.brain.mode == "llm":
        return LlmBrain(settings.brain, fallback=embedded, client=client)
    return embedded
