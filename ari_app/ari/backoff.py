"""Jittered, capped exponential backoff for reconnecting to Asterisk.

Pure: ``next_delay()`` only computes; the caller sleeps. The random source is injectable so tests can
show the schedule deterministically (e.g. "the first reconnect happens within 5 s") without timing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay n (0-based) is ``min(cap, initial * factor**n)``, of which the last ``jitter`` fraction
    is random: ``base * (1 - jitter) + uniform(0, base * jitter)``. ``reset()`` after a success."""

    initial_s: float = 0.5
    cap_s: float = 10.0
    factor: float = 2.0
    jitter: float = 0.3
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.cap_s <= 0:
            raise ValueError("backoff delays must be positive")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")
        if self.factor < 1.0:
            raise ValueError("factor must be >= 1")

    def peek_base(self, attempt: int | None = None) -> float:
        n = self.attempt if attempt is None else attempt
        # cap the exponent too: factor**n overflows long before anyone waits that long
        return min(self.cap_s, self.initial_s * self.factor ** min(n, 64))

    def next_delay(self) -> float:
        base = self.peek_base()
        self.attempt += 1
        return base * (1.0 - self.jitter) + self.rng.uniform(0.0, base * self.jitter)

    def reset(self) -> None:
        self.attempt = 0
