"""No booking changes on a guess: tools that change something wait until the caller's turn is settled.

A turn ended early on a finished-sounding transcript is provisional until the full hangover has
passed without the caller going on; if they do go on, the turn is withdrawn and answered again as a
whole. Reading (availability, hotel facts, a booking preview) may run on a provisional turn — that is
where the speed comes from — but creating, changing or cancelling a booking, sending a text or a
payment link, scheduling a call back or ending the call waits for the turn to settle, and is never
run at all when the turn is withdrawn (its task is cancelled while it waits).

Both brains run tools through ``CallContext.registry``, so wrapping the registry covers the embedded
dialog and the LLM's tool calls alike.
"""

from __future__ import annotations

import asyncio
from typing import Any

# Tools with no effect outside the call: safe to run on a turn that may still be withdrawn.
READ_ONLY_TOOLS = frozenset(
    {"check_availability", "find_reservation", "get_caller_history", "hotel_info", "play_hold_music"}
)


def commits(name: str, arguments: dict[str, Any]) -> bool:
    """Would running this tool change something a withdrawn turn could not take back?"""
    if name in READ_ONLY_TOOLS:
        return False
    return not (name == "modify_reservation" and arguments.get("preview") is True)


class CommitGate:
    """Open (settled) unless the current turn was ended early and may still be withdrawn."""

    def __init__(self) -> None:
        self._settled = asyncio.Event()
        self._settled.set()
        self.waits = 0  # committing tool runs that had to wait for a provisional turn

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    def provisional(self) -> None:
        self._settled.clear()

    def settle(self) -> None:
        self._settled.set()

    async def wait(self) -> None:
        if not self._settled.is_set():
            self.waits += 1
            await self._settled.wait()


class GatedRegistry:
    """A tool registry whose committing tools wait for the gate; everything else is delegated."""

    def __init__(self, inner: Any, gate: CommitGate) -> None:
        self._inner = inner
        self.gate = gate

    async def run(self, ctx: Any, name: str, arguments: dict[str, Any]) -> Any:
        if commits(name, arguments if isinstance(arguments, dict) else {}):
            await self.gate.wait()
        return await self._inner.run(ctx, name, arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
