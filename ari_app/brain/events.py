"""What a brain produces for one caller turn, in order: words to speak, tool runs, call actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ari_app.tools.types import Action, ActionKind


@dataclass(frozen=True)
class Say:
    """One sentence (or a few short ones) to speak now; the next may still be in the making."""

    text: str


@dataclass(frozen=True)
class ToolCalled:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    error: str = ""


BrainEvent = Say | ToolCalled | Action

__all__ = ["Action", "ActionKind", "BrainEvent", "Say", "ToolCalled"]
