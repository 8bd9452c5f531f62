"""Masking of payment card data before anything is stored, logged or kept in a recording.

Cards are never taken by voice, but a caller may still read one out, and whatever speech-to-text
heard must not land in the database, the logs or a recording. Speech recognition does not write a
card number the way it was printed on the card: it adds, drops and regroups digits ("4,111, 1111,111
…", "555-55, 555-55, 555-4444"), mixes figures and words ("4111 one one one …") and sometimes puts a
filler word in the middle. A Luhn check on an exact 13–19 digit run therefore fails *open*. The rule
here fails *closed*:

- **Card number.** Any cluster of digits, in figures or digit words, with separators (spaces,
  commas, dots, dashes, slashes, "and", "uh" …) and at most two other words between its groups,
  holding 12 or more digits in all, Luhn or not. A cluster that is a Luhn-valid 13–19 digit number
  keeps its last four digits (``[card ****1111]``) so staff can still refer to it; any other is
  masked whole (``[card ****]``), because its tail may just as well be the expiry or the CVV.
- **CVV.** The digits right after (or right before) "CVV", "CVC", "CSC", "security code",
  "verification code", "card code" … (``[cvv ***]``).
- **Expiry.** The digits and month names right after "expiry", "expires", "expiration", "exp",
  "valid until/thru" (``[expiry ***]``).
- **Payment-sensitive stage.** While the call is in a payment stage (see :func:`payment_stage`),
  every cluster of three or more digits is masked (``[digits]``): there, any number is card-like.

Over-masking a phone number read in one breath is the accepted price of never storing a card.
"""

from __future__ import annotations

import contextvars
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "card", "cvv", "cvc", "pin")
CARD_MIN_DIGITS = 12
SENSITIVE_MIN_DIGITS = 3
PAYMENT_STAGE_WORDS = ("pay", "card")

# A marker this module wrote: never masked again (masking is idempotent).
MARKER = re.compile(r"\[(?:card \*{4}\d{0,4}|cvv \*{3}|expiry \*{3}|digits)\]")


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


_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_TEENS_TENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
    "thirty": "30", "forty": "40", "fourty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
    "eighty": "80", "ninety": "90", "hundred": "00", "thousand": "000",
}
_NUMBER_WORDS = {**_UNITS, **_TEENS_TENS}
_REPEATS = {"double": 2, "triple": 3}
# Words a caller (or STT) puts inside one digit run without ending it.
_FILLERS = frozenset(
    {"and", "then", "uh", "um", "umm", "er", "erm", "ah", "eh", "hmm", "dash", "hyphen", "space",
     "slash", "comma", "point", "dot"}
)
_MONTHS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
     "dec"}
)
_MAX_GAP_WORDS = 2  # other words allowed between the groups of one card number
_CVV_KEY = re.compile(
    r"\b(?:cvv2?|cvc2?|cv2|csc|cid|security\s+(?:code|number|digits)|verification\s+(?:code|number|value)"
    r"|card\s+(?:code|verification)|(?:three|four|3|4)[-\s]digit\s+code|code\s+on\s+the\s+back)\b",
    re.IGNORECASE,
)
_EXPIRY_KEY = re.compile(
    r"\b(?:exp(?:iry|iration|ires?|ired|iring)?|valid\s+(?:until|thru|through|till|to)"
    r"|good\s+(?:thru|through|until|till))\b\.?",
    re.IGNORECASE,
)
_KEY_WINDOW = 6  # word/number tokens looked at after a CVV or expiry keyword
_KEY_BACK_WINDOW = 3

_TOKEN = re.compile(
    r"(?P<mark>\[(?:card \*{4}\d{0,4}|cvv \*{3}|expiry \*{3}|digits)\])"
    r"|(?P<stamp>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?|\d{1,2}:\d{2}:\d{2}(?:\.\d+)?)"
    r"|(?P<dotted>\d+(?:\.\d+){1,})"
    r"|(?P<ident>\w*(?:\d[^\W\d]|[^\W\d]\d)\w*)"
    r"|(?P<num>\d+)"
    r"|(?P<word>[^\W\d_]+(?:['\u2019][^\W\d_]+)*)"
    r"|(?P<sep>[\s,.\-\u2010-\u2015/:;()+*#]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_QUICK = re.compile(
    r"\d|\b(?:" + "|".join(sorted({*_NUMBER_WORDS, *_REPEATS}, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class _Tok:
    kind: str  # "digits", "filler", "sep", "word", "mark", "other"
    start: int
    end: int
    digits: str = ""
    lower: str = ""


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c, 0)) for c in text if c.isdigit())


def _tokens(text: str, *, dotted_ids: bool) -> list[_Tok]:
    out: list[_Tok] = []
    repeat = 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        s, e = m.span()
        raw = m.group(0)
        if kind in ("dotted", "stamp"):
            if dotted_ids:  # logs: 127.0.0.1, 1795615288.26 (Asterisk ids), timestamps: not spoken digits
                out.append(_Tok("word", s, e, lower=raw))
                continue
            # stored speech: "4.111.1111" is a regrouped card number; read its digits like any others
            for piece in re.finditer(r"\d+|\D+", raw):
                sub = piece.group(0)
                is_num = sub.isdigit()
                out.append(
                    _Tok("digits" if is_num else "sep", s + piece.start(), s + piece.end(),
                         _ascii_digits(sub) if is_num else "")
                )
            continue
        if kind == "num":
            out.append(_Tok("digits", s, e, _ascii_digits(raw) * repeat))
            repeat = 1
            continue
        if kind == "word":
            low = raw.lower()
            if low in _NUMBER_WORDS:
                out.append(_Tok("digits", s, e, _NUMBER_WORDS[low] * repeat, low))
                repeat = 1
            elif low in _REPEATS:
                repeat = _REPEATS[low]
                out.append(_Tok("digits", s, e, "", low))
            elif low in _FILLERS:
                out.append(_Tok("filler", s, e, lower=low))
            else:
                out.append(_Tok("word", s, e, lower=low))
            continue
        if kind == "sep":
            out.append(_Tok("sep", s, e))
            continue
        out.append(_Tok(kind if kind == "mark" else ("word" if kind == "ident" else "other"), s, e, lower=raw))
    return out


@dataclass(slots=True)
class _Run:
    first: int  # token index of the first digit token
    last: int  # token index of the last digit token
    digits: str


def _runs(toks: list[_Tok]) -> list[_Run]:
    """Digit tokens joined by separators and fillers only."""
    runs: list[_Run] = []
    cur: _Run | None = None
    for i, t in enumerate(toks):
        if t.kind == "digits":
            if cur is None:
                cur = _Run(i, i, t.digits)
            else:
                cur.last = i
                cur.digits += t.digits
        elif t.kind in ("sep", "filler"):
            continue
        else:
            if cur is not None:
                runs.append(cur)
                cur = None
    if cur is not None:
        runs.append(cur)
    return runs


def _words_between(toks: list[_Tok], a: int, b: int) -> int:
    return sum(1 for t in toks[a + 1 : b] if t.kind in ("word", "other", "mark"))


def _clusters(toks: list[_Tok], runs: list[_Run]) -> Iterator[_Run]:
    """Runs with at most ``_MAX_GAP_WORDS`` other words between them, merged."""
    cur: _Run | None = None
    for run in runs:
        if cur is not None and _words_between(toks, cur.last, run.first) <= _MAX_GAP_WORDS and not any(
            t.kind == "mark" for t in toks[cur.last + 1 : run.first]
        ):
            cur = _Run(cur.first, run.last, cur.digits + run.digits)
            continue
        if cur is not None:
            yield cur
        cur = _Run(run.first, run.last, run.digits)
    if cur is not None:
        yield cur


def _card_marker(digits: str) -> str:
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return "[card ****" + digits[-4:] + "]"
    return "[card ****]"


def _tok_index_at(toks: list[_Tok], pos: int) -> int:
    for i, t in enumerate(toks):
        if t.start >= pos:
            return i
    return len(toks)


def _keyword_spans(
    text: str, toks: list[_Tok], key: re.Pattern[str], label: str, *, months: bool, backwards: bool
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for m in key.finditer(text):
        # forwards: the first digit run (or month name) within the window, and what joins it
        i = _tok_index_at(toks, m.end())
        seen = 0
        first = last = -1
        while i < len(toks) and seen < _KEY_WINDOW:
            t = toks[i]
            is_digit = t.kind == "digits" or (months and t.kind == "word" and t.lower in _MONTHS)
            if is_digit:
                if first < 0:
                    first = i
                last = i
            elif t.kind in ("word", "other", "mark"):
                if first >= 0:
                    break
                seen += 1
            i += 1
        if first >= 0:
            spans.append((toks[first].start, toks[last].end, label))
        if backwards:
            j = _tok_index_at(toks, m.start()) - 1
            seen = 0
            first = last = -1
            while j >= 0 and seen < _KEY_BACK_WINDOW:
                t = toks[j]
                if t.kind == "digits":
                    if last < 0:
                        last = j
                    first = j
                elif t.kind in ("word", "other", "mark"):
                    if last >= 0:
                        break
                    seen += 1
                j -= 1
            if last >= 0:
                spans.append((toks[first].start, toks[last].end, label))
    return spans


def _mask(text: str, *, sensitive: bool, dotted_ids: bool) -> str:
    if not text or not _QUICK.search(text):
        return text
    toks = _tokens(text, dotted_ids=dotted_ids)
    spans: list[tuple[int, int, str]] = []
    threshold = SENSITIVE_MIN_DIGITS if sensitive else CARD_MIN_DIGITS
    for cl in _clusters(toks, _runs(toks)):
        if len(cl.digits) >= threshold:
            marker = _card_marker(cl.digits) if len(cl.digits) >= CARD_MIN_DIGITS else "[digits]"
            spans.append((toks[cl.first].start, toks[cl.last].end, marker))
    spans += _keyword_spans(text, toks, _CVV_KEY, "[cvv ***]", months=False, backwards=True)
    spans += _keyword_spans(text, toks, _EXPIRY_KEY, "[expiry ***]", months=True, backwards=False)
    if not spans:
        return text
    # overlapping spans become one, labelled by the strongest kind of card data in it
    rank = {"[card": 0, "[cvv ": 1, "[expi": 2, "[digi": 3}
    merged: list[list[Any]] = []
    for s, e, label in sorted(spans):
        if merged and s < merged[-1][1]:
            top = merged[-1]
            top[1] = max(top[1], e)
            if top[2] != label:
                best = min(top[2], label, key=lambda x: rank[x[:5]])
                top[2] = "[card ****]" if best.startswith("[card") else best
        else:
            merged.append([s, e, label])
    out: list[str] = []
    pos = 0
    for s, e, label in merged:
        out.append(text[pos:s])
        out.append(label)
        pos = e
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------- payment stage

_stage_reader: contextvars.ContextVar[Callable[[], str] | None] = contextvars.ContextVar(
    "payment_stage_reader", default=None
)


def is_payment_stage(stage: str) -> bool:
    lowered = stage.lower()
    return any(word in lowered for word in PAYMENT_STAGE_WORDS)


def watch_payment_stage(reader: Callable[[], str]) -> None:
    """Let the masker see the call's dialog stage; call once at the start of a call's task.

    A context variable, not a parameter, so every store and log call the call's tasks make (tasks
    created afterwards inherit it) masks in payment mode without each of them passing the stage.
    """
    _stage_reader.set(reader)


def payment_stage() -> bool:
    """True while the current call's dialog sits in a payment stage (fails closed on a read error)."""
    reader = _stage_reader.get()
    if reader is None:
        return False
    try:
        return is_payment_stage(reader())
    except Exception:
        return True


# -------------------------------------------------------------------------------------- public API


def mask_card_numbers(text: str, *, sensitive: bool | None = None) -> str:
    """Text fit for storage: card numbers, CVVs and expiry dates masked (see the module docstring).

    ``sensitive`` forces payment mode on or off; by default it follows :func:`payment_stage`.
    """
    return _mask(text, sensitive=payment_stage() if sensitive is None else sensitive, dotted_ids=False)


def mask_for_log(text: str) -> str:
    """Like :func:`mask_card_numbers` for a log line: dotted numbers (IP addresses, Asterisk unique
    ids) are identifiers there, not spoken digits."""
    return _mask(text, sensitive=payment_stage(), dotted_ids=True)


def contains_card_data(text: str, *, sensitive: bool = False) -> bool:
    """True when ``text`` holds card data or a marker this module left in its place."""
    return bool(MARKER.search(text)) or _mask(text, sensitive=sensitive, dotted_ids=False) != text


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


class CardMaskFilter(logging.Filter):
    """A handler filter that masks card data in every record's final message and traceback text.

    Installed on the service's log handler, so a caller's words that reach a log line by any path
    (a debug line, an exception that quotes its input) are masked like stored text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        masked = mask_for_log(message)
        if masked != message:
            record.msg = masked
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_for_log(record.exc_text)
        return True
