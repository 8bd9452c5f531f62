"""Caller sentiment per turn and per call, offline.

VADER (a lexicon and rule-based scorer, its lexicon shipped in the package) reads short,
conversational English well and costs well under a millisecond a turn, so it runs inline as each
caller turn is stored. Phone callers voice frustration in ways a general lexicon underrates
("waiting forever", "useless", "a real person"), so a few hotel-phone terms are added to it.
The score is VADER's compound value in [-1, 1]; labels use VADER's usual ±0.05 thresholds.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Label = Literal["negative", "neutral", "positive"]

# Valence in VADER's -4..4 scale, for words a hotel's callers use when things go wrong (or right).
PHONE_LEXICON = {
    "forever": -1.5,
    "useless": -2.5,
    "ridiculous": -2.5,
    "unacceptable": -2.5,
    "waiting": -0.8,
    "again": -0.3,
    "complaint": -2.0,
    "rude": -2.5,
    "dirty": -2.0,
    "noisy": -1.5,
    "refund": -1.2,
    "lovely": 2.5,
    "perfect": 3.0,
}


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(PHONE_LEXICON)
    return analyzer


def score(text: str) -> float:
    """Compound sentiment of one utterance, -1 (angry) … 1 (delighted); 0 for empty text."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text[:2000])["compound"])


def label(value: float) -> Label:
    if value <= -0.05:
        return "negative"
    if value >= 0.05:
        return "positive"
    return "neutral"


def call_sentiment(mean: float | None, not_understood: int) -> tuple[float, Label]:
    """The call's sentiment once the operator failed to understand the caller ``not_understood`` times.

    VADER scores words, and the words of a caller who is not understood are often polite
    ("sorry", "please", "thank you") or gibberish that happens to score above zero; such a call is
    not a happy one. Any turn not understood caps the call at neutral; three (the point where the
    operator gives up and hands the caller on) make it negative whatever the words scored.
    """
    value = 0.0 if mean is None else float(mean)
    if not_understood <= 0:
        return round(value, 4), label(value)
    if not_understood >= 3:
        value = min(value, -0.05)
        return round(value, 4), "negative"
    value = min(value, 0.0)
    return round(value, 4), label(value) if value <= -0.05 else "neutral"
