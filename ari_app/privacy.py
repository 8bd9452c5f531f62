"""Masking of payment card numbers before anything is stored or logged.

Cards are never taken by voice, but a caller may still read one out; whatever STT heard must not land
in the database or the logs. A run of 13–19 digits (spaces and dashes allowed between them) that
passes the Luhn check is masked, keeping the last four digits so staff can still refer to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_CANDIDATE = re.compile(r"(?<![\d])(?:\d[ \-]?){12,18}\d(?![\d])")
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "card", "cvv", "cvc", "pin")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_WORD_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
# A run of spoken digits as speech recognition writes them: "four one one one, one one one one …",
# possibly mixed with figures ("4111 one one one …"). Separators are spaces, commas, dashes, dots.
_SPOKEN_RUN = re.compile(
    r"(?<![\w])(?:(?:" + "|".join(sorted(_WORD_DIGITS, key=len, reverse=True)) + r"|\d+)(?:[\s,.\-]+|$)){4,}",
    re.IGNORECASE,
)


def _spoken_digits(run: str) -> str:
    out = []
    for token in re.split(r"[\s,.\-]+", run.strip(" ,.-")):
        if not token:
            continue
        out.append(token if token.isdigit() else _WORD_DIGITS.get(token.lower(), ""))
    return "".join(out)


def _masked(digits: str) -> str | None:
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return "[card ****" + digits[-4:] + "]"
    return None


def mask_card_numbers(text: str) -> str:
    """Mask card numbers written as figures and as spoken digit words (what STT produces)."""

    def _mask(match: re.Match[str]) -> str:
        return _masked(re.sub(r"\D", "", match.group(0))) or match.group(0)

    def _mask_spoken(match: re.Match[str]) -> str:
        run = match.group(0)
        masked = _masked(_spoken_digits(run))
        if masked is None:
            return run
        trailing = run[len(run.rstrip(" ,.-")) :]
        return masked + trailing

    return _SPOKEN_RUN.sub(_mask_spoken, _CANDIDATE.sub(_mask, text))


def mask_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of tool arguments fit for storage: secret-looking keys hidden, card numbers masked."""
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if any(word in key.lower() for word in SECRET_WORDS):
            out[key] = "***"
        elif isinstance(value, str):
            out[key] = mask_card_numbers(value)
        elif isinstance(value, Mapping):
            out[key] = mask_arguments(value)
        else:
            out[key] = value
    return out
