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


def mask_card_numbers(text: str) -> str:
    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if not 13 <= len(digits) <= 19 or not luhn_ok(digits):
            return match.group(0)
        return "[card ****" + digits[-4:] + "]"

    return _CANDIDATE.sub(_mask, text)


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
