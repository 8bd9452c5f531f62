"""How many browser calls may run at once, in all and per client address.

A slot is taken when the signalling socket is accepted (before any media work) and given back when
that socket's call ends, so a flood of sockets from one address cannot tie up the speech models
that the phone calls share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class LimitReached(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass
class CallLimiter:
    max_calls: int
    max_per_client: int
    _by_client: Counter[str] = field(default_factory=Counter)

    @property
    def in_use(self) -> int:
        return sum(self._by_client.values())

    def acquire(self, client: str) -> None:
        """Take a slot for ``client`` or raise :class:`LimitReached` (nothing taken then)."""
        if self.in_use >= self.max_calls:
            raise LimitReached("busy", "all our web lines are busy right now; please try again in a minute")
        if self._by_client[client] >= self.max_per_client:
            raise LimitReached(
                "too_many_calls", "you already have the most calls open that one address may have"
            )
        self._by_client[client] += 1

    def release(self, client: str) -> None:
        if self._by_client[client] > 0:
            self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]
