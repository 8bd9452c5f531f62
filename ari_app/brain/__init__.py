"""Conversation brains: the embedded hotel dialog (offline, default) and an LLM over any
OpenAI-compatible chat endpoint, behind one interface the speech loop and the IVR use."""

from ari_app.brain.base import Brain, BrainError, InputMode
from ari_app.brain.context import CallContext, DialogState, ModifyDraft, Turn
from ari_app.brain.embedded import EmbeddedBrain
from ari_app.brain.events import Action, BrainEvent, Say, ToolCalled
from ari_app.brain.factory import make_brain
from ari_app.brain.llm import LlmBrain, system_prompt

__all__ = [
    "Action",
    "Brain",
    "BrainError",
    "BrainEvent",
    "CallContext",
    "DialogState",
    "EmbeddedBrain",
    "InputMode",
    "LlmBrain",
    "ModifyDraft",
    "Say",
    "ToolCalled",
    "Turn",
    "make_brain",
    "system_prompt",
]
