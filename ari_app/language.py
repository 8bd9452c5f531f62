"""The language one call runs in, as it is decided during the call.

``CallInfo`` is frozen at answer time (dialled number, channel), but the caller may still choose a
language in the menu, or reveal it in their first sentence. This small mutable holder is what the
IVR executor, the speech loops and the brain context all read, so a choice made in one phase is
heard in every later one; listeners let a running loop switch its voice at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Source = Literal["call", "menu", "detected"]


@dataclass
class CallLanguage:
    code: str
    source: Source = "call"  # "call": from the dialled number, the channel or the default
    listeners: list[Callable[[str], None]] = field(default_factory=list)

    @property
    def may_detect(self) -> bool:
        """Detection only fills in what nobody said: a caller's menu choice wins, and one
        detection per call is enough (later turns keep the language the first one found)."""
        return self.source == "call"

    def set(self, code: str, source: Source) -> None:
        changed = code != self.code
        self.code = code
        self.source = source
        if changed:
            for listener in list(self.listeners):
                listener(code)
