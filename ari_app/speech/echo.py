"""Echo guard: is a speech start merely our own voice coming back (speakerphone, hybrid echo)?

Echo keeps the level envelope of what we send, delayed by the echo path and quieter. Comparing the
caller-side frame levels with our recent outgoing levels over a range of delays tells the two apart
well enough to stop a speakerphone from barging in on itself, without an adaptive filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def is_probable_echo(
    inbound_db: Sequence[float],
    outbound_db: Sequence[float],
    *,
    max_lag: int = 15,
    min_corr: float = 0.8,
    min_attenuation_db: float = 3.0,
) -> bool:
    """``inbound_db``/``outbound_db`` are per-frame levels on one timeline, newest last.

    True when, for some delay up to ``max_lag`` frames, the inbound envelope follows the outbound
    one (correlation ≥ ``min_corr``) while being at least ``min_attenuation_db`` quieter.
    """
    x = np.asarray(inbound_db, dtype=np.float64)
    y_all = np.asarray(outbound_db, dtype=np.float64)
    n = x.size
    if n < 4 or y_all.size < n:
        return False
    if np.std(x) < 1.0:  # a flat level (steady hum) carries no pattern to match
        return False
    for lag in range(0, max_lag + 1):
        end = y_all.size - lag
        if end - n < 0:
            break
        y = y_all[end - n : end]
        if np.std(y) < 1.0 or float(np.max(y)) < -60.0:
            continue
        corr = float(np.corrcoef(x, y)[0, 1])
        if corr >= min_corr and float(np.mean(x)) <= float(np.mean(y)) - min_attenuation_db:
            return True
    return False
