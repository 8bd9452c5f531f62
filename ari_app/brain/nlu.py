"""Understanding what a caller said, without a network: intents and slot values from ASR text.

Speech recognisers give lower-case words, no punctuation, and numbers sometimes as digits and
sometimes as words ("december third", "december 3rd", "twenty fifth"), so everything here works
on a token list where number words have already become numbers. Dates are resolved against an
injected "today" in the hotel's time zone; nothing reads the system clock. Pure functions, no I/O:
each turn is a few hundred microseconds.
"""

from __future__ import annotations

import calendar
import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

# ------------------------------------------------------------------------------------ tokens

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip
_NATO = {
    "alpha": "a", "alfa": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f", "golf": "g",
    "hotel": "h", "india": "i", "juliet": "j", "juliett": "j", "kilo": "k", "lima": "l", "mike": "m",
    "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s", "tango": "t",
    "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "xray": "x", "yankee": "y", "zulu": "z",
}  # fmt: skip

_HOMOPHONES = {"for": 4, "to": 2, "too": 2}
_COUNTED = frozenset(
    {"adults", "people", "persons", "guests", "nights", "rooms", "children", "kids", "grownups", "travelers",
     "travellers"}
)  # fmt: skip

_TOKEN = re.compile(r"\d+(?:st|nd|rd|th)?|[a-z]+(?:'[a-z]+)?|@")
_NUMERIC_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b|\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")


@dataclass(frozen=True)
class Tok:
    word: str
    num: int | None = None
    ordinal: bool = False
    digits: str = ""  # the digits as spoken, for phone numbers and codes ("oh five" -> "05")


def tokenize(text: str) -> list[Tok]:
    raw = _TOKEN.findall(text.lower().replace("\u2019", "'").replace("-", " "))
    out: list[Tok] = []
    for w in raw:
        if w[0].isdigit():
            digits = re.match(r"\d+", w)
            assert digits is not None
            out.append(Tok(w, int(digits.group()), ordinal=not w.isdigit(), digits=digits.group()))
        elif w in _UNITS:
            out.append(Tok(w, _UNITS[w], digits=str(_UNITS[w])))
        elif w in _TENS:
            out.append(Tok(w, _TENS[w], digits=str(_TENS[w])))
        elif w in _ORDINALS:
            out.append(Tok(w, _ORDINALS[w], ordinal=True, digits=str(_ORDINALS[w])))
        elif w in ("oh",):
            out.append(Tok(w, None, digits="0"))
        elif w in ("forth", "force") and out and out[-1].word == "the":
            out.append(Tok(w, 4, ordinal=True, digits="4"))  # Whisper's "the force" for "the fourth"
        else:
            out.append(Tok(w))
    # Whisper writes "four" as "for" and "two" as "to"/"too" ("a room for for people", "to adults"):
    # before a counted plural noun, with no number already in front of it, they can only be numbers.
    for i in range(len(out) - 1):
        prev_num = i > 0 and out[i - 1].num is not None
        if out[i].word in _HOMOPHONES and out[i + 1].word in _COUNTED and not prev_num:
            value = _HOMOPHONES[out[i].word]
            out[i] = Tok(out[i].word, value, digits=str(value))
    # "twenty" + "five" -> 25, "thirty" + "first" -> 31st
    merged: list[Tok] = []
    for tok in out:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev.word in _TENS
            and tok.num is not None
            and 1 <= tok.num <= 9
            and not tok.word[0].isdigit()
        ):
            merged[-1] = Tok(
                prev.word + " " + tok.word,
                prev.num + tok.num if prev.num else tok.num,
                tok.ordinal,
                prev.digits[0] + tok.digits,
            )
        else:
            merged.append(tok)
    return merged


def _n(tok: Tok) -> int:
    """The token's number, or -1 so range checks read simply."""
    return -1 if tok.num is None else tok.num


def words_of(toks: list[Tok]) -> str:
    return " " + " ".join(t.word for t in toks) + " "


def has_any(padded: str, phrases: tuple[str, ...] | frozenset[str]) -> bool:
    return any(f" {p} " in padded for p in phrases)


# ------------------------------------------------------------------------------------ dates


@dataclass
class DateMention:
    start: int  # token index, for role detection
    role: str | None  # "in" | "out" | None
    negated: bool = False  # "not the fourth": the date being replaced, not a new one
    year: int | None = None
    month: int | None = None
    day: int | None = None
    weekday: int | None = None
    modifier: str = ""  # next | this
    relative: int | None = None
    exact: date | None = None
    tonight: bool = False


@dataclass
class DateSlots:
    check_in: date | None = None
    check_out: date | None = None
    single: date | None = None  # one date with no role word: meaning depends on the question asked
    single_is_bare_day: bool = False  # the one date mentioned was a bare "the 5th" (any role)
    nights: int | None = None
    error: str | None = None
    replaces: date | None = None  # "not the fourth, the fifth": the date the caller takes back
    replaces_is_bare_day: bool = False

    @property
    def any(self) -> bool:
        return bool(self.check_in or self.check_out or self.single or self.nights)


_OUT_WORDS = frozenset(
    {"out", "leave", "leaving", "depart", "departing", "until", "till", "til", "through", "thru", "checkout"}
)
_IN_WORDS = frozenset({"in", "arrive", "arriving", "arrival", "from", "starting", "checkin", "coming"})
_NOT_DAY_NEXT = frozenset(
    {"night", "nights", "adult", "adults", "people", "person", "persons", "guests", "guest", "kids", "kid", "children",
     "child", "pm", "am", "o'clock", "oclock", "hours", "hour", "minutes", "weeks", "week", "days", "day", "of", "dogs",
     "cats", "rooms", "room", "us"}
)  # fmt: skip


def _role_before(toks: list[Tok], i: int) -> str | None:
    for j in range(i - 1, max(-1, i - 4), -1):
        w = toks[j].word
        if w in _OUT_WORDS:
            return "out"
        if w == "to" and (j == i - 1 or (j == i - 2 and toks[i - 1].word == "the")):
            return "out"
        if w in _IN_WORDS:
            return "in"
        if toks[j].num is not None or w in MONTHS or w in WEEKDAYS:
            break
    return None


def easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter, by the anonymous Gregorian computus."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _next_fixed(today: date, month: int, day: int) -> date:
    """The year rule for holidays: the next such date from today (today itself counts)."""
    this_year = date(today.year, month, day)
    return this_year if this_year >= today else date(today.year + 1, month, day)


def _next_easter(today: date, offset: int) -> date:
    """A day ``offset`` days from Easter Sunday, in the first year where it is not yet past."""
    for year in (today.year, today.year + 1):
        d = easter_sunday(year) + timedelta(days=offset)
        if d >= today:
            return d
    return easter_sunday(today.year + 2) + timedelta(days=offset)


def _holiday_at(toks: list[Tok], i: int, today: date) -> tuple[list[date], int] | None:
    """A named holiday starting at token ``i``: its date (or arrival and departure for a holiday
    weekend) and how many tokens it spans."""
    w = toks[i].word
    nxt = toks[i + 1].word if i + 1 < len(toks) else ""
    nxt2 = toks[i + 2].word if i + 2 < len(toks) else ""
    if w == "new" and nxt in ("year's", "years", "year"):
        if nxt2 == "eve":
            return [_next_fixed(today, 12, 31)], 3
        return [_next_fixed(today, 1, 1)], 3 if nxt2 == "day" else 2
    if w in ("christmas", "xmas"):
        if nxt == "eve":
            return [_next_fixed(today, 12, 24)], 2
        return [_next_fixed(today, 12, 25)], 2 if nxt == "day" else 1
    if w == "boxing" and nxt == "day":
        return [_next_fixed(today, 12, 26)], 2
    if w == "easter":
        if nxt in ("weekend", "holiday", "holidays"):
            friday = _next_easter(today, -2)
            return [friday, friday + timedelta(days=3)], 2  # Good Friday to Easter Monday
        if nxt == "monday":
            return [_next_easter(today, 1)], 2
        if nxt == "saturday":
            return [_next_easter(today, -1)], 2
        return [_next_easter(today, 0)], 2 if nxt == "sunday" else 1
    if w == "good" and nxt == "friday":
        return [_next_easter(today, -2)], 2
    if w in ("valentine's", "valentines") and nxt == "day":
        return [_next_fixed(today, 2, 14)], 2
    if w == "thanksgiving":
        for year in (today.year, today.year + 1):
            first = date(year, 11, 1)
            day = first + timedelta(days=(3 - first.weekday()) % 7 + 21)  # fourth Thursday
            if day >= today:
                return [day], 1
    return None


def _find_mentions(text: str, toks: list[Tok], today: date) -> list[DateMention]:
    found: list[DateMention] = []
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        w = t.word
        nxt = toks[i + 1] if i + 1 < n else None
        if w in MONTHS:
            j = i + 1
            if j < n and toks[j].word == "the":
                j += 1
            if (
                j < n
                and 1 <= _n(toks[j]) <= 31
                and not (j + 1 < n and toks[j + 1].word in _NOT_DAY_NEXT - {"of"})
            ):
                m = DateMention(i, _role_before(toks, i), month=MONTHS[w], day=toks[j].num)
                j += 1
                if j < n and toks[j].word == "of":
                    j += 1
                if j < n and 1900 <= _n(toks[j]) <= 2200:
                    m.year = toks[j].num
                    j += 1
                elif j + 1 < n and _n(toks[j]) in (19, 20) and _n(toks[j + 1]) >= 0:
                    m.year = _n(toks[j]) * 100 + _n(toks[j + 1])  # "nineteen ninety nine"
                    j += 2
                found.append(m)
                i = j
                continue
        if t.num is not None and 1 <= t.num <= 31:
            j = i + 1
            if j < n and toks[j].word == "of":
                j += 1
            if j < n and toks[j].word in MONTHS and (t.ordinal or j == i + 1 or toks[i + 1].word == "of"):
                start = i - 1 if i > 0 and toks[i - 1].word == "the" else i
                m = DateMention(start, _role_before(toks, start), month=MONTHS[toks[j].word], day=t.num)
                j += 1
                if j < n and 1900 <= _n(toks[j]) <= 2200:
                    m.year = toks[j].num
                    j += 1
                found.append(m)
                i = j
                continue
            prev = toks[i - 1].word if i > 0 else ""
            bare_ok = (t.ordinal and (nxt is None or nxt.word not in _NOT_DAY_NEXT)) or (
                prev in ("to", "until", "till", "through", "thru", "the")
                and (nxt is None or nxt.word not in _NOT_DAY_NEXT)
            )
            if bare_ok and not (prev == "the" and nxt is not None and nxt.word in ("one", "option")):
                start = i - 1 if prev == "the" else i
                found.append(DateMention(start, _role_before(toks, start), day=t.num))
                i += 1
                continue
        if w in WEEKDAYS and not (
            nxt is not None and nxt.word in ("night", "nights") and i > 0 and toks[i - 1].num
        ):
            mod = toks[i - 1].word if i > 0 and toks[i - 1].word in ("next", "this", "coming") else ""
            start = i - 1 if mod else i
            found.append(
                DateMention(
                    start,
                    _role_before(toks, start),
                    weekday=WEEKDAYS[w],
                    modifier=mod,
                    tonight=nxt is not None and nxt.word == "night",  # "saturday night": one night
                )
            )
            i += 1
            continue
        holiday = _holiday_at(toks, i, today)
        if holiday is not None:
            days, width = holiday
            if len(days) == 2:  # a holiday weekend: arrival and departure
                found.append(DateMention(i, "in", exact=days[0]))
                found.append(DateMention(i, "out", exact=days[1]))
            else:
                found.append(DateMention(i, _role_before(toks, i), exact=days[0]))
            i += width
            continue
        if w in ("today", "tonight"):
            found.append(DateMention(i, _role_before(toks, i), relative=0, tonight=w == "tonight"))
        elif w == "tomorrow":
            rel = 2 if i >= 2 and toks[i - 1].word == "after" and toks[i - 2].word == "day" else 1
            one_night = nxt is not None and nxt.word == "night"
            found.append(DateMention(i, _role_before(toks, i), relative=rel, tonight=one_night))
        i += 1
    for m in found:
        before = [toks[j].word for j in range(max(0, m.start - 2), m.start)]
        m.negated = "not" in before or before[-2:] == ["instead", "of"]
    # numeric dates ("12/3", "2026-12-03") come from the raw text and replace word-based guesses
    if _NUMERIC_DATE.search(text):
        found = []
    for mt in _NUMERIC_DATE.finditer(text):
        if mt.group(1):
            found.append(
                DateMention(0, None, year=int(mt.group(1)), month=int(mt.group(2)), day=int(mt.group(3)))
            )
        else:
            year = int(mt.group(6)) if mt.group(6) else None
            if year is not None and year < 100:
                year += 2000
            found.append(DateMention(0, None, year=year, month=int(mt.group(4)), day=int(mt.group(5))))
    return found


def _safe_date(year: int, month: int, day: int) -> date | None:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _next_month(d: date) -> tuple[int, int]:
    return (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)


def _resolve(m: DateMention, today: date, anchor: date | None) -> tuple[date | None, str | None]:
    """One mention to a date; ``anchor`` is the check-in when this mention is a check-out."""
    if m.exact:
        return m.exact, None
    if m.relative is not None:
        return today + timedelta(days=m.relative), None
    if m.weekday is not None:
        base = anchor or today
        delta = (m.weekday - base.weekday()) % 7
        if delta == 0 and not (m.modifier == "this" and anchor is None):
            delta = 7
        wd = base + timedelta(days=delta)
        if m.modifier == "next" and anchor is None and wd.isocalendar()[1] == today.isocalendar()[1]:
            wd += timedelta(days=7)
        return wd, None
    assert m.day is not None
    d: date | None
    if m.month is None:
        base = anchor or today
        d = _safe_date(base.year, base.month, m.day)
        if d is None or (anchor is not None and d <= anchor) or (anchor is None and d < today):
            y, mo = _next_month(base)
            d = _safe_date(y, mo, m.day)
        if d is None:
            return None, f"there's no {ordinal_word(m.day)} that month"
        return d, None
    if m.year is not None:
        d = _safe_date(m.year, m.month, m.day)
        return (d, None) if d else (None, f"there's no {calendar.month_name[m.month]} {ordinal_word(m.day)}")
    d = _safe_date(today.year, m.month, m.day)
    if d is None:
        d = _safe_date(today.year + 1, m.month, m.day)  # 29 February
        if d is None:
            return None, f"there's no {calendar.month_name[m.month]} {ordinal_word(m.day)}"
    if d < today:
        d = _safe_date(d.year + 1, d.month, d.day) or d
    if anchor is not None and d.month < anchor.month and d.year == anchor.year:
        d = _safe_date(d.year + 1, d.month, d.day) or d
    return d, None


def _nights(toks: list[Tok]) -> int | None:
    for i, t in enumerate(toks):
        nxt = toks[i + 1].word if i + 1 < len(toks) else ""
        qty = t.num if t.num is not None else (1 if t.word in ("a", "an", "one") else None)
        if qty is None:
            continue
        if nxt in ("night", "nights") or (nxt in ("day", "days") and t.num is not None):
            return qty
        if nxt in ("week", "weeks"):
            return qty * 7
    if any(t.word == "fortnight" for t in toks):
        return 14
    return None


def _date_key(m: DateMention) -> tuple[object, ...]:
    return (m.year, m.month, m.day, m.weekday, m.modifier, m.relative, m.exact, m.tonight, m.negated)


def parse_dates(text: str, toks: list[Tok], today: date, anchor_in: date | None = None) -> DateSlots:
    mentions = _find_mentions(text, toks, today)
    slots = DateSlots(nights=_nights(toks))
    misheard = [
        m
        for m in mentions
        if m.tonight and m.relative == 0 and m.start > 0 and toks[m.start - 1].word == "for"
    ]
    if misheard and len(mentions) > len(misheard):
        # "next Friday for tonight": Whisper's "tonight" for "two nights" once another date is named
        mentions = [m for m in mentions if m not in misheard]
        slots.nights = slots.nights or 2
    negated = [m for m in mentions if m.negated]
    if negated and len(mentions) - len(negated) == 1:
        # "no, not the fourth, the fifth": one date taken back, one given in its place
        old = negated[0]
        slots.replaces, _ = _resolve(old, today, None)
        slots.replaces_is_bare_day = old.month is None and old.weekday is None and old.exact is None
        mentions = [m for m in mentions if not m.negated]
    # the same date twice with no "to"/"until" before the repeat ("December 15th, December 15th."):
    # a caller saying it again, or Whisper looping on it, never a stay of no nights
    mentions = [
        m
        for k, m in enumerate(mentions)
        if k == 0 or m.role == "out" or _date_key(m) != _date_key(mentions[k - 1])
    ]
    if len(mentions) == 1 and mentions[0].tonight and slots.nights is None and mentions[0].role != "out":
        slots.nights = 1  # "a room tonight", "tomorrow night": one night unless the caller says otherwise
    if not mentions:
        padded = words_of(toks)
        if " weekend " in padded:
            friday = today + timedelta(days=(4 - today.weekday()) % 7)
            if " next weekend " in padded and friday.isocalendar()[1] == today.isocalendar()[1]:
                friday += timedelta(days=7)
            slots.check_in, slots.check_out = friday, friday + timedelta(days=2)
        return slots
    if len(mentions) >= 2:
        first, second = mentions[0], mentions[1]
        if first.role == "out" and second.role != "out":
            first, second = second, first
        if second.month is None and first.month is not None and second.day is not None:
            second.year = second.year  # a bare day after a month date shares its month (resolved via anchor)
        d_in, err = _resolve(first, today, None)
        if err or d_in is None:
            slots.error = err
            return slots
        if second.month is not None and second.year is None and first.year is not None:
            second.year = first.year if second.month >= (first.month or 1) else first.year + 1
        d_out, err = _resolve(second, today, d_in)
        if (
            second.month is not None
            and d_out is not None
            and d_out.year > d_in.year
            and d_out.month == d_in.month
        ):
            d_out = (
                _safe_date(d_in.year, d_out.month, d_out.day) or d_out
            )  # "december 5 to december 3": an ordering mistake
        slots.check_in, slots.check_out, slots.error = d_in, d_out, err
        return slots
    m = mentions[0]
    slots.single_is_bare_day = (
        m.month is None and m.weekday is None and m.relative is None and m.exact is None
    )
    if m.role == "out":
        d, slots.error = _resolve(m, today, anchor_in)
        slots.check_out = d
    elif m.role == "in":
        d, slots.error = _resolve(m, today, None)
        slots.check_in = d
    else:
        d, slots.error = _resolve(m, today, None)
        slots.single = d
    return slots


def ordinal_word(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ------------------------------------------------------------------------------------ guests

_ADULT_WORDS = frozenset({"adult", "adults", "grownup", "grownups", "grown", "adultos"})
_CHILD_WORDS = frozenset(
    {"child", "children", "kid", "kids", "boy", "boys", "girl", "girls", "baby", "babies", "infant", "infants",
     "toddler", "toddlers", "teenager", "teenagers", "teens", "son", "sons", "daughter", "daughters", "kiddos"}
)  # fmt: skip
_PEOPLE_WORDS = frozenset(
    {"people", "persons", "person", "guests", "guest", "pax", "travellers", "travelers"}
)
_PARTNER = ("my wife", "my husband", "my partner", "my girlfriend", "my boyfriend", "my friend", "my fiance",
            "my fiancee", "my spouse", "my colleague", "my mom", "my mother", "my dad", "my father")  # fmt: skip
_SOLO = (
    "just me",
    "only me",
    "myself",
    "by myself",
    "alone",
    "solo",
    "just one",
    "one person",
    "single traveler",
    "for me",
    "just for me",
    "for myself",
)


@dataclass
class Guests:
    adults: int | None = None
    children: int | None = None

    @property
    def any(self) -> bool:
        return self.adults is not None or self.children is not None


def parse_guests(toks: list[Tok], expecting: bool = False) -> Guests:
    g = Guests()
    people: int | None = None
    padded = words_of(toks)
    for i, t in enumerate(toks):
        nxt = toks[i + 1].word if i + 1 < len(toks) else ""
        nxt2 = toks[i + 2].word if i + 2 < len(toks) else ""
        qty = (
            t.num
            if t.num is not None and not t.ordinal
            else (1 if t.word in ("a", "an", "one", "our", "my") else None)
        )
        if t.word == "no" and (nxt in _CHILD_WORDS):
            g.children = 0
            continue
        if qty is None:
            continue
        if nxt in _ADULT_WORDS:
            g.adults = qty
        elif nxt in _CHILD_WORDS or (nxt in ("little", "small", "young") and nxt2 in _CHILD_WORDS):
            if t.word in ("our", "my") and nxt in ("children", "kids"):
                continue  # "our kids": a count we don't know
            g.children = (g.children or 0) + qty if t.word in ("my", "our") else qty
        elif nxt in _PEOPLE_WORDS and t.num is not None:
            people = qty
        elif nxt == "of" and nxt2 == "us" and t.num is not None:
            people = qty
        elif (
            i > 0
            and toks[i - 1].word == "for"
            and t.num is not None
            and 1 <= t.num <= 12
            and not t.ordinal
            and nxt not in _NOT_DAY_NEXT
            and nxt not in MONTHS
            and nxt not in _CHILD_WORDS
            and nxt not in ("and", "more", "extra", "or", "o'clock", "oclock", "p", "a")
            and people is None
        ):
            people = qty  # "next weekend for two": a count of people with no noun after it
    if " family of " in padded:
        idx = [t.word for t in toks].index("family")
        if idx + 2 < len(toks) and toks[idx + 2].num:
            people = toks[idx + 2].num
    if people is not None and g.adults is None:
        g.adults = max(1, people - (g.children or 0))
    if g.adults is None:
        if has_any(padded, _PARTNER) or has_any(
            padded, ("couple", "two of us", "the both of us", "both of us")
        ):
            g.adults = 2  # before "just me": "just me and my wife" is two
        elif has_any(padded, _SOLO):
            g.adults = 1
    if g.adults is None and expecting:
        nums = [
            t
            for i, t in enumerate(toks)
            if t.num is not None
            and not t.ordinal
            and 0 < t.num < 1000
            and (i + 1 >= len(toks) or toks[i + 1].word not in ("room", "rooms"))
        ]
        if nums:
            g.adults = nums[0].num
            if len(nums) > 1 and g.children is None and " and " in padded:
                g.children = nums[1].num
    return g


_ROOM_PLURALS = frozenset({"suites", "doubles", "kings", "queens", "singles", "twins", "deluxes"})


def parse_rooms(toks: list[Tok]) -> int | None:
    """ "two rooms", "2 double rooms", "three standard queen rooms", "one room": how many rooms."""
    for i, t in enumerate(toks):
        if t.num is None or t.ordinal or not 1 <= t.num <= 20:
            continue
        for j in range(i + 1, min(i + 4, len(toks))):
            w = toks[j].word
            if w in _ROOM_PLURALS and t.num > 1:
                return t.num  # "two harbour suites", "2 doubles"
            if w in ("room", "rooms"):
                if w == "room" and t.num != 1:
                    break  # "a 2 room suite"
                return t.num
            if toks[j].num is not None or w in (
                "for",
                "and",
                "with",
                "of",
                "night",
                "nights",
                "adults",
                "people",
            ):
                break
    if has_any(words_of(toks), ("separate rooms", "two separate rooms")):
        return 2
    return None


def parse_pets(toks: list[Tok]) -> bool | None:
    pet_words = {"dog", "dogs", "cat", "cats", "pet", "pets", "puppy", "puppies", "kitten", "kittens"}
    for i, t in enumerate(toks):
        if t.word in pet_words:
            before = {toks[j].word for j in range(max(0, i - 3), i)}
            return not (before & {"no", "without", "not", "dont", "don't"})
    return None


_ARRIVE = frozenset({"arrive", "arriving", "arrival", "come", "coming", "get", "checking", "in"})
_DEPART = frozenset({"leave", "leaving", "depart", "departing", "go", "out", "stay", "staying", "checkout"})
_MOVE = frozenset({"move", "push", "shift", "postpone", "bump", "everything", "whole"})
_STAY_UNITS = frozenset({"night", "nights", "day", "days"})
_LONGER = frozenset({"longer", "later", "more", "extra", "additional"})
_SHORTER = frozenset({"earlier", "sooner", "less", "fewer", "shorter"})


@dataclass(frozen=True)
class StayShift:
    """A change relative to the booked stay: which end moves ("in", "out" or "both") and by how many days."""

    end: str
    days: int


def _qty(tok: Tok) -> int | None:
    if tok.num is not None and not tok.ordinal:
        return tok.num
    return 1 if tok.word in ("a", "an", "one", "another") else None


def parse_stay_shift(toks: list[Tok]) -> StayShift | None:
    """ "one more night", "add two nights", "leave a day later", "arrive a day earlier", "push it back a
    day", "one night less": a relative change, resolved against the booking by the caller of this."""
    words = [t.word for t in toks]
    for i, t in enumerate(toks):
        if t.word not in _STAY_UNITS:
            continue
        before = words[max(0, i - 6) : i]
        after = words[i + 1 : i + 3]
        qty: int | None = None
        sign = 0
        # "<n> more nights", "another night", "an extra night"
        if i >= 1 and words[i - 1] in ("more", "extra", "additional") and i >= 2:
            qty, sign = _qty(toks[i - 2]), 1
        elif i >= 1 and words[i - 1] in ("another",):
            qty, sign = 1, 1
        elif i >= 1 and words[i - 1] in ("fewer", "less") and i >= 2:
            qty, sign = _qty(toks[i - 2]), -1
        elif i >= 1 and _qty(toks[i - 1]) is not None:
            qty = _qty(toks[i - 1])
            nxt = after[0] if after else ""
            if nxt in ("longer", "later", "more", "extra"):
                sign = 1
            elif nxt in _SHORTER:
                sign = -1
            elif {"add", "adding", "extend", "extending", "plus"} & set(before):
                sign = 1
            elif {"drop", "remove", "shorten", "cut", "minus"} & set(before):
                sign = -1
            elif "back" in before and _MOVE & set(before):
                return StayShift("both", qty or 1)
            elif "forward" in before and _MOVE & set(before):
                return StayShift("both", -(qty or 1))
        if not sign or not qty or qty > 60:
            continue
        ctx_words = set(before)
        nxt = after[0] if after else ""
        if t.word in ("day", "days") and nxt in ("later", "earlier", "sooner"):
            moving = nxt == "later"
            if _MOVE & ctx_words and not (ctx_words & _ARRIVE or ctx_words & _DEPART):
                return StayShift("both", qty if moving else -qty)
            if ctx_words & _ARRIVE and not ctx_words & (_DEPART - {"in"}):
                return StayShift("in", qty if moving else -qty)
        return StayShift("out", sign * qty)
    return None


def parse_guest_delta(toks: list[Tok]) -> Guests | None:
    """ "one more adult", "another person", "add a child": guests added to (or taken off) the booking."""
    words = [t.word for t in toks]
    found = Guests()
    for i, t in enumerate(toks):
        kind = (
            "adults"
            if t.word in _ADULT_WORDS or t.word in _PEOPLE_WORDS
            else "children"
            if t.word in _CHILD_WORDS
            else ""
        )
        if not kind or i == 0:
            continue
        prev = words[i - 1]
        before = set(words[max(0, i - 4) : i])
        qty: int | None = None
        if prev in ("more", "extra", "additional") and i >= 2:
            qty = _qty(toks[i - 2])
        elif prev == "another":
            qty = 1
        elif _qty(toks[i - 1]) is not None and before & {"add", "plus", "adding", "bring", "bringing"}:
            qty = _qty(toks[i - 1])
        elif prev in ("fewer", "less") and i >= 2:
            q = _qty(toks[i - 2])
            qty = -q if q else None
        elif _qty(toks[i - 1]) is not None and before & {"minus", "remove", "without"}:
            q = _qty(toks[i - 1])
            qty = -q if q else None
        if qty is None:
            continue
        if kind == "adults":
            found.adults = (found.adults or 0) + qty
        else:
            found.children = (found.children or 0) + qty
    return found if found.any else None


# ------------------------------------------------------------------------------------ yes / no

_YES = frozenset({"yes", "yeah", "yep", "yup", "sure", "correct", "right", "ok", "okay", "alright", "absolutely",
                  "definitely", "perfect", "great", "fine", "affirmative", "yea", "ya", "certainly", "exactly"})  # fmt: skip
_YES_PHRASES = (
    "go ahead",
    "sounds good",
    "that works",
    "works for me",
    "do it",
    "book it",
    "please do",
    "of course",
)
_NO = frozenset({"no", "nope", "nah", "wrong", "incorrect", "negative"})
_NO_PHRASES = (
    "not right",
    "not correct",
    "that's not",
    "that is not",
    "don't",
    "do not",
    "not really",
    "no thanks",
)


_HEARD_AS_YES = (["u", "s"], ["us"], ["yes", "s"], ["yas"], ["yeah", "s"])  # Whisper on a short flite "Yes."


def yes_no(toks: list[Tok]) -> bool | None:
    if [t.word for t in toks] in _HEARD_AS_YES:
        return True
    head = toks[:4]
    padded = words_of(toks[:6])
    if any(t.word in _NO for t in head[:2]) or has_any(padded, _NO_PHRASES):
        return False
    if any(t.word in _YES for t in head) or has_any(padded, _YES_PHRASES):
        return True
    return None


# ------------------------------------------------------------------------------------ names, phones, codes

_STRONG_PREFIXES = ("my name is", "the name is", "name is", "my name's", "the name's", "name's")
_SOFT_PREFIXES = (
    "it's under", "it is under", "under the name", "under", "this is", "it's", "it is", "i am", "i'm",
    "call me", "names", "name", "the name", "surname is", "last name is", "first name is",
)  # fmt: skip
_INTRO_PREFIXES = (
    "this is",
    "i'm",
    "i am",
    "it's",
)  # a name before it was asked for: "Hi, this is Priya Patel"
_NOT_NAME = frozenset(
    {"room", "rooms", "book", "booking", "want", "like", "need", "looking", "the", "a", "an", "for", "night", "nights",
     "yes", "no", "what", "how", "when", "where", "why", "can", "could", "would", "do", "does", "is", "are", "you",
     "your", "please", "thanks", "thank", "sorry", "hotel", "reservation", "cancel", "price", "available", "check",
     "select", "drop", "table", "from", "insert", "delete", "update", "union", "and", "or", "to", "with",
     "hello", "hi", "hey", "um", "uh", "ok", "okay", "sure", "not", "dont", "don't", "know", "person", "operator",
     "menu", "human", "agent", "again", "repeat", "said", "say", "it", "that", "this", "of", "in", "on", "at", "me",
     "that's", "thats", "right", "correct", "exactly", "fine", "good", "great", "perfect", "sounds", "it's", "its",
     "true", "indeed", "wrong", "bye", "goodbye", "all", "done", "was", "be", "we", "us", "just", "here", "there",
     "calling", "interested", "wondering", "trying", "hoping", "going", "planning", "staying", "travelling",
     "traveling", "double", "single", "queen", "king", "suite", "standard", "deluxe", "cheapest", "one", "first",
     "last", "second", "other", "same", "number", "phone", "card", "credit", "adult", "adults", "people", "guests",
     "change", "modify", "spell", "spelled", "spelling", "letter", "letters", "mister", "missus", "miss"}
)  # fmt: skip
_FILLER = frozenset(
    {"um", "uh", "er", "hmm", "well", "so", "yes", "yeah", "sure", "ok", "okay", "please", "oh", "mr", "mrs", "ms",
     "dr", "it", "is", "that's", "thats", "right", "correct", "and"}
)  # fmt: skip
_NAME_STOP = frozenset(
    {"and", "my", "phone", "number", "email", "e", "mail", "i", "from", "at", "i'd", "i'm", "please", "thanks",
     "thank", "calling", "with", "for", "i'll", "we", "we'd", "we're", "spelled", "spelt", "that's", "as"}
)  # fmt: skip
_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['\-][^\W\d_]+)*$")
_LETTER = re.compile(r"^[^\W\d_]$")


def _find_prefix(low: str, prefixes: tuple[str, ...], *, anywhere: bool) -> int | None:
    """Offset just after the first prefix found (as whole words), or None."""
    best: int | None = None
    for p in prefixes:
        pat = rf"(?:^|[^\w']){re.escape(p)}(?=[^\w']|$)" if anywhere else rf"^{re.escape(p)}(?=[^\w']|$)"
        m = re.search(pat, low)
        if m and (best is None or anywhere is False):
            return m.end()
    return best


def _strip_fillers(low: str) -> str:
    """Leading fillers and acknowledgements ("yes, it's …", "um, so …") before the answer itself."""
    while True:
        m = re.match(r"^[\s,.!?;:\-]*([^\W\d_]+(?:'[^\W\d_]+)?)\b", low)
        if not m or m.group(1) not in _FILLER:
            return low.lstrip(" ,.!?;:-")
        low = low[m.end() :]


def spelled_letters(text: str) -> str | None:
    """A run of two or more single letters ("P A T E L", "l-o-p-e-z", "A. N. A."), joined, or None."""
    parts = [w for w in re.split(r"[\s,.;:\-]+", text.lower()) if w]
    best: list[str] = []
    cur: list[str] = []
    for w in [*parts, ""]:
        if _LETTER.match(w):
            cur.append(w)
            continue
        if len(cur) > len(best):
            best = cur
        cur = []
    return "".join(best) if len(best) >= 2 else None


_SPELLING_COMPANY = frozenset({"no", "it's", "its", "it", "is", "that's", "spelled", "spelt", "my", "name", "sorry",
                               "actually", "um", "uh", "so", "okay", "ok", "well"})  # fmt: skip


# How Whisper writes a letter said on its own: the letter, or the word it sounds like ("el" for L).
# Those that are everyday words too ("see", "you", "are", "an") count only beside surer letters.
_LETTER_WORDS = {
    "ay": "a", "bee": "b", "cee": "c", "dee": "d", "ee": "e", "ef": "f", "eff": "f", "gee": "g", "jee": "g",
    "aitch": "h", "jay": "j", "kay": "k", "el": "l", "ell": "l", "elle": "l", "em": "m", "en": "n",
    "pee": "p", "cue": "q", "queue": "q", "ar": "r", "es": "s", "ess": "s", "vee": "v", "ex": "x",
    "wye": "y", "zee": "z", "zed": "z",
}  # fmt: skip
_LETTER_LOOKALIKES = {
    "a": "a", "i": "i", "be": "b", "see": "c", "sea": "c", "eye": "i", "oh": "o", "pea": "p", "are": "r",
    "tea": "t", "you": "u", "why": "y", "an": "n", "age": "h",
}  # fmt: skip
_NATO = {
    "alpha": "a", "alfa": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f",
    "golf": "g", "hotel": "h", "india": "i", "juliet": "j", "juliett": "j", "kilo": "k", "lima": "l",
    "mike": "m", "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s",
    "tango": "t", "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "xray": "x", "yankee": "y",
    "zulu": "z",
}  # fmt: skip
_SPELLING_TALK = frozenset(
    {"no", "it's", "its", "it", "is", "that's", "thats", "spelled", "spelt", "spell", "spelling", "my", "name",
     "name's", "sorry", "actually", "um", "uh", "so", "okay", "ok", "well", "the", "first", "last", "surname",
     "family", "then", "and", "space", "letters", "yes", "yeah", "that", "s", "capital", "again", "like", "this", "er"}
)  # fmt: skip
_SPELL_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*|[,;.!?\-]|\s+")
_PAUSE_MARKS = frozenset(",;.!?-")


def _letter_of(word: str) -> tuple[str, bool] | None:
    """The letter a word stands for when spelling, and whether it is sure (not an everyday word)."""
    if _LETTER.match(word):
        return word, word not in ("a", "i")
    if word in _LETTER_WORDS:
        return _LETTER_WORDS[word], True
    if word in _LETTER_LOOKALIKES:
        return _LETTER_LOOKALIKES[word], False
    return None


def read_spelling(text: str) -> list[str] | None:
    """The words a caller spelled letter by letter, when the turn is a spelling and nothing else.

    Callers spell as "A N N, L E E", "a-n-n", "A. N. N.", "double N", "A as in apple", "N for
    November" or in the phonetic alphabet, and Whisper writes the letters as letters or as the words
    they sound like ("en", "Elle", "ee"). A pause mark between groups of letters ends a word of the
    name, unless every letter is followed by the same mark ("A. N. N."): then it is one word. Words
    that are everyday words too ("see", "an", "you") count only within a run with at least two sure
    letters, and any other word in the turn means it was not a spelling: None."""
    raw = _SPELL_TOKEN.findall(text.lower().replace("\u2019", "'").replace("x-ray", "xray"))
    toks = [t for t in raw if not t.isspace()]
    spaced = [k > 0 and raw[k - 1].isspace() for k, t in enumerate(raw) if not t.isspace()]
    letters: list[tuple[str, str]] = []  # (letter, or "-" / "'" inside a word; the pause mark before it)
    sure = 0
    gap = ""

    def add(letter: str) -> None:
        nonlocal gap
        letters.append((letter, gap))
        gap = ""

    i = 0
    while i < len(toks):
        w = toks[i]
        if w in _PAUSE_MARKS:
            gap = gap.strip() + w if letters else ""
            i += 1
            continue
        if letters and not gap and spaced[i]:
            gap = " "
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        after = toks[i + 2] if i + 2 < len(toks) else ""
        if w in ("dash", "hyphen") and letters:
            letters.append(("-", ""))
            gap = ""
        elif w == "apostrophe" and letters:
            letters.append(("'", ""))
            gap = ""
        elif w in ("double", "triple") and (hit := _letter_of(nxt)) is not None:
            if hit[0] == "u" and w == "double":
                add("w")  # "double u" is W
            else:
                add(hit[0])
                letters.extend([(hit[0], "")] * (1 if w == "double" else 2))
            sure += 2
            i += 1
        elif (nxt == "as" and after == "in") or (nxt == "for" and len(after) > 1 and after[0].isalpha()):
            # "A as in apple", "N for Nancy": the example word settles the letter
            skip = 2 if nxt == "as" else 1
            example = toks[i + skip + 1] if i + skip + 1 < len(toks) else ""
            if not example or example in _PAUSE_MARKS:
                return None
            add(example[0])
            sure += 1
            i += skip + 1
        elif w == "as" and nxt == "in" and after and after not in _PAUSE_MARKS:
            add(after[0])  # "as in apple" after a letter Whisper dropped
            sure += 1
            i += 2
        elif (hit := _letter_of(w)) is not None:
            add(hit[0])
            sure += hit[1]
        elif w in _NATO:
            add(_NATO[w])
            sure += 1
        elif w in _SPELLING_TALK:
            gap = "|" if letters else ""  # "A N N, and then L E E": talk between letters parts the words
        else:
            return None
        i += 1
    if sum(c.isalpha() for c, _ in letters) < 2 or sure < 2:
        return None
    marks = [g for _, g in letters[1:] if g and g != "|"]
    common = max(marks, key=marks.count) if marks else ""
    words: list[str] = [""]
    for k, (c, g) in enumerate(letters):
        if k and g and g != common and c.isalpha():
            words.append("")
        words[-1] += c
    return [w for w in words if w.strip("-'")] or None


def spelled_name(text: str) -> str | None:
    """A name spelled out in full and nothing else: "No, it's A N N, L E E." -> "Ann Lee"."""
    words = read_spelling(text)
    return " ".join(_cap(w) for w in words) if words else None


def _cap(word: str) -> str:
    """Mary-Jane, O'Brien, D'Angelo, Zoë, Ñúñez-Müller: each part of a name starts upper-case."""
    parts = re.split(r"([\-'])", word)
    out: list[str] = []
    for i, part in enumerate(parts):
        after_apostrophe = i >= 2 and parts[i - 1] == "'"
        if after_apostrophe and len(parts[i - 2]) > 1:
            out.append(part)  # "O'Brien" but "Jean's" stays as is
        else:
            out.append(part[:1].upper() + part[1:])
    return "".join(out)


def apply_spelling(name: str, letters: str, *, min_likeness: float = 0.7) -> str:
    """The name with the spelled word put in place of the word it most resembles ("Anna" -> "A N A").

    Whisper garbles spelled letters as often as names ("P A T E L" heard as "P-H-E-R-L"), so a
    spelling replaces a word only when the two are alike; otherwise the name stays as it was.
    """
    words = name.split()
    low = [w.lower().replace("-", "").replace("'", "") for w in words]
    if letters in low or len(letters) < 2:
        return name
    likeness = [difflib.SequenceMatcher(None, w, letters).ratio() for w in low]
    best = max(range(len(words)), key=lambda i: likeness[i]) if words else -1
    if best < 0 or likeness[best] < min_likeness:
        return name
    words[best] = _cap(letters)
    return " ".join(words)


def parse_name(text: str, expecting: bool) -> str | None:
    """A person's name: after "my name is …" anywhere, or the whole short answer when one was asked
    for, or after "this is …" / "I'm …" when it is capitalised as names are. Letters the caller
    spells ("Patel, P A T E L") fix the spelling. Any alphabet: accents and non-Latin letters stay."""
    if re.search(r"[;=()*@<>{}\[\]\\/]", text):
        return None
    original = text.replace("\u2019", "'")
    low = original.lower()
    same_length = len(low) == len(original)
    at = _find_prefix(low, _STRONG_PREFIXES, anywhere=True)
    intro = False
    if at is None and expecting:
        stripped = _strip_fillers(low)
        offset = len(low) - len(stripped)
        soft = _find_prefix(stripped, _SOFT_PREFIXES, anywhere=False)
        at = offset + (soft or 0)
    if at is None:
        at = _find_prefix(low, _INTRO_PREFIXES, anywhere=True)
        intro = True
    if at is None:
        return None
    rest = _strip_fillers(low[at:])
    rest_at = len(low) - len(rest)
    segments = [seg for seg in re.split(r"[,.!?;:]+(?:\s|$)|\s-\s", rest)]
    if not segments or not segments[0].strip():
        return None
    first = segments[0]
    if re.search(r"\d", first):
        return None  # digits: a phone number or a date, not a name
    letters = spelled_letters(first)
    words: list[str] = []
    if letters and all(_LETTER.match(w) for w in first.split()):
        words, letters = [letters], None  # spelled out only: "j o h n"
    for w in first.split() if not words else []:
        if w in _NAME_STOP:
            break
        if _LETTER.match(w) and words and letters:
            break  # "lopez l o p e z": the spelling starts
        words.append(w)
    if letters is None and len(segments) > 1:
        letters = spelled_letters(" ".join(segments[1:3]))
    if not words or len(words) > 4:
        return None
    if any(w in _NOT_NAME or not _NAME_WORD.match(w) for w in words):
        return None
    if intro:
        if expecting is False and (len(words) > 3 or any(w.endswith("ing") for w in words)):
            return None
        if same_length:
            shown = original[rest_at : rest_at + len(first)].split()
            if not shown or not all(w[:1].isupper() for w in shown[: len(words)]):
                return None  # "I'm looking for…", "this is great": not capitalised, not a name
    name = " ".join(_cap(w) for w in words)
    if letters and len(letters) >= 2 and not all(len(w) == 1 for w in words):
        name = apply_spelling(name, letters)
    return name


def digit_runs(toks: list[Tok]) -> list[str]:
    runs: list[str] = []
    cur = ""
    i = 0
    while i < len(toks):
        t = toks[i]
        if (
            t.word in ("double", "triple")
            and i + 1 < len(toks)
            and toks[i + 1].digits
            and len(toks[i + 1].digits) == 1
        ):
            cur += toks[i + 1].digits * (2 if t.word == "double" else 3)
            i += 2
            continue
        if t.digits and not t.ordinal:
            cur += t.digits
        elif t.word in ("plus", "dash", "and") and cur == "" and t.word == "plus":
            cur = "+"
        elif cur:
            runs.append(cur)
            cur = ""
        i += 1
    if cur:
        runs.append(cur)
    return runs


def parse_phone(toks: list[Tok]) -> str | None:
    for run in digit_runs(toks):
        digits = run.lstrip("+")
        if 7 <= len(digits) <= 15:
            return run
    return None


def _digit_runs_of(digits: str) -> list[tuple[int, int]]:
    """(start, length) of each run of one repeated digit: "4155550000" is 4 | 1 | 555 | 0000."""
    runs: list[tuple[int, int]] = []
    for i, ch in enumerate(digits):
        if runs and digits[runs[-1][0]] == ch:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def phone_recount_variants(number: str) -> list[str]:
    """The numbers a heard phone number may have been, when its length says a digit was miscounted.

    Whisper miscounts a digit said several times in a row ("five five five, zero zero zero zero"
    came out as 4155550000 with one zero too many, or one five too few), and the lengths of a North
    American number (ten digits, or eleven with the leading 1) show when that happened. Only a run
    of one repeated digit grows or shrinks by one, so the variants are few; a number of a plausible
    length has none (which digit would be wrong cannot be told)."""
    plus = number.startswith("+")
    digits = "".join(c for c in number if c.isdigit())
    if plus or not digits:
        return []  # E.164 with a country code: its length rule is the country's, not known here
    lead = digits[0] == "1"
    if len(digits) == 10 and not lead or len(digits) == 11 and lead:
        return []
    out: list[str] = []
    if len(digits) in (11, 12) and (len(digits) == 11) != lead:
        # one too many: 11 digits not led by 1, or 12 led by 1
        for start, n in _digit_runs_of(digits):
            if n >= 2:
                out.append(digits[:start] + digits[start + 1 :])
    elif len(digits) == 9 or len(digits) == 10 and lead:
        # one too few
        for start, n in _digit_runs_of(digits):
            if n >= 2:
                out.append(digits[:start] + digits[start] + digits[start:])
    return [v for v in dict.fromkeys(out) if v != digits]


_WRITTEN_CODE = re.compile(r"\b(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{5,16}\b")


def parse_code(text: str, toks: list[Tok], expecting: bool = False) -> str | None:
    """A confirmation code typed ("AEX773") or read out ("a e x seven seven three", "alpha echo x-ray …")."""
    written = _WRITTEN_CODE.search(text.lower())
    if written:
        return written.group(0).upper()
    words = [t for t in toks if t.word != "ray"]  # "x-ray" arrives as "x ray"
    best = ""
    cur = ""
    for t in words:
        piece = ""
        if t.word in _NATO and t.word != "november":
            piece = _NATO[t.word]
        elif len(t.word) == 1 and t.word.isalpha() and (t.word not in ("a", "i") or cur or expecting):
            piece = t.word
        elif t.digits and not t.ordinal and len(t.digits) <= 2:
            piece = t.digits
        if piece:
            cur += piece
        else:
            if len(cur) > len(best):
                best = cur
            cur = ""
    if len(cur) > len(best):
        best = cur
    return best.upper() if 4 <= len(best) <= 16 and re.search(r"[a-z]", best) else None


_EMAIL_WRITTEN = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_EMAIL_SPOKEN = re.compile(r"\b([a-z0-9]+(?: dot [a-z0-9]+)*) at ([a-z0-9]+(?: dot [a-z0-9]+)+)\b")


def parse_email(text: str) -> str | None:
    low = text.lower()
    m = _EMAIL_WRITTEN.search(low)
    if m:
        return m.group(0).rstrip(".")
    m = _EMAIL_SPOKEN.search(re.sub(r"[^a-z0-9 ]", " ", low))
    if m and m.group(2).split(" dot ")[-1] in (
        "com",
        "net",
        "org",
        "edu",
        "io",
        "co",
        "uk",
        "de",
        "fr",
        "ca",
        "au",
    ):
        return (m.group(1) + "@" + m.group(2)).replace(" dot ", ".")
    return None


# ------------------------------------------------------------------------------------ times (callbacks)


def parse_time_of_day(toks: list[Tok]) -> time | None:
    padded = words_of(toks)
    for i, t in enumerate(toks):
        if t.num is None or t.ordinal or not 1 <= t.num <= 12:
            continue
        nxt = toks[i + 1].word if i + 1 < len(toks) else ""
        nxt2 = toks[i + 2].word if i + 2 < len(toks) else ""
        prev = toks[i - 1].word if i > 0 else ""
        if prev in ("past", "half") or nxt in _NOT_DAY_NEXT - {"pm", "am", "o'clock", "oclock"}:
            continue
        minute = 0
        j = i + 1
        if j < len(toks) and toks[j].num in (15, 30, 45) and not toks[j].ordinal:
            minute = toks[j].num or 0
            j += 1
        ampm = toks[j].word if j < len(toks) else ""
        if ampm in ("p", "a") and j + 1 < len(toks) and toks[j + 1].word == "m":
            ampm += "m"
        hour = t.num
        if prev == "half" or (prev == "past" and False):
            pass
        if ampm == "pm" or " afternoon " in padded or " evening " in padded or " tonight " in padded:
            hour = hour % 12 + 12
        elif ampm == "am" or " morning " in padded:
            hour = hour % 12
        elif prev in ("at", "around", "about") or nxt in ("o'clock", "oclock") or ampm:
            hour = hour + 12 if hour <= 7 else hour % 12 if hour == 12 else hour
            if t.num == 12:
                hour = 12
        else:
            continue
        _ = nxt2
        return time(hour % 24, minute)
    if " noon " in padded or " midday " in padded or " lunchtime " in padded:
        return time(12, 0)
    if " morning " in padded:
        return time(9, 0)
    if " afternoon " in padded:
        return time(14, 0)
    if " evening " in padded or " tonight " in padded:
        return time(18, 0)
    return None


def parse_callback_time(text: str, toks: list[Tok], now: datetime) -> datetime | None:
    """When the caller wants a call back, in the hotel's zone (``now`` is aware, hotel-local)."""
    for i, t in enumerate(toks):
        nxt = toks[i + 1].word if i + 1 < len(toks) else ""
        qty = t.num if t.num is not None else (1 if t.word in ("an", "a", "one") else None)
        if qty is not None and i > 0 and toks[i - 1].word in ("in", "within"):
            if nxt in ("hour", "hours"):
                return now + timedelta(hours=qty)
            if nxt in ("minute", "minutes", "mins"):
                return now + timedelta(minutes=qty)
    tod = parse_time_of_day(toks)
    slots = parse_dates(text, toks, now.date())
    day = slots.single or slots.check_in
    if tod is None and day is None:
        if has_any(words_of(toks), ("asap", "as soon as possible", "right away", "now", "soon")):
            return now + timedelta(minutes=15)
        return None
    when_time = tod or time(10, 0)
    when = datetime.combine(day or now.date(), when_time, tzinfo=now.tzinfo)
    if day is None and when <= now:
        when += timedelta(days=1)
    return when


# ------------------------------------------------------------------------------------ intents

_SQLISH = re.compile(
    r"(\bdrop\s+table\b|\bselect\b.+\bfrom\b|\binsert\s+into\b|\bdelete\s+from\b|\bunion\s+select\b|;\s*--|\bor\s+1\s*=\s*1\b|\btruncate\s+table\b|\bupdate\s+\w+\s+set\b)",
    re.IGNORECASE,
)
_HUMAN_WORDS = frozenset({"person", "human", "agent", "operator", "representative", "receptionist", "someone",
                          "somebody", "staff", "manager", "reception", "people"})  # fmt: skip
_HUMAN_VERBS = ("talk to", "speak to", "speak with", "talk with", "connect me", "transfer me", "put me through",
                "real person", "live person", "front desk", "a human")  # fmt: skip
_WEAK_HUMAN_VERBS = ("get me", "i want a", "i need a")  # "I need a room for two people" is a booking
_BOOK_WORDS = frozenset({"book", "booking", "reserve", "reservation", "room", "rooms", "available", "availability",
                         "vacancy", "vacancies", "stay", "staying", "night", "nights", "accommodation"})  # fmt: skip
_PRICE_WORDS = (
    "how much",
    "price",
    "prices",
    "rate",
    "rates",
    "cost",
    "costs",
    "expensive",
    "cheap",
    "cheapest",
)
_QUESTION_START = ("do you", "can i", "can we", "is there", "are there", "are", "is", "what", "when", "where",
                   "how", "do", "does", "could", "tell me", "whats", "what's")  # fmt: skip
DEPARTMENT_WORDS = {
    "reservations": ("reservation", "reservations", "booking", "bookings"),
    "housekeeping": ("housekeeping", "cleaning", "towels", "housekeeper"),
    "manager": ("manager", "management"),
    "front desk": ("front desk", "reception", "receptionist", "concierge"),
}


_MODIFY_PHRASES = (
    "change my", "change our", "change the booking", "change the reservation", "change the dates",
    "change booking", "change a booking", "change reservation", "change a reservation",
    "change the room", "modify", "reschedule", "move my", "move our", "move the booking", "move the reservation",
    "move it", "update my", "switch to", "switch rooms", "upgrade", "make it", "instead", "one more adult",
    "another adult", "one more person", "another person", "one more guest", "another guest", "add a child",
    "add one", "add an adult", "add a guest", "add a person", "add my", "different room", "stay longer",
    "i booked", "we booked", "i've booked", "we've booked", "already booked", "i have a booking",
    "i have a reservation", "we have a booking", "we have a reservation", "i made a booking",
    "i made a reservation", "we made a booking", "we made a reservation", "extend my", "extend our",
)  # fmt: skip


@dataclass
class Understanding:
    intent: (
        str | None
    )  # book | price | cancel | modify | info | human | callback | goodbye | menu | repeat | None
    text: str
    toks: list[Tok] = field(default_factory=list)
    sqlish: bool = False


_FAREWELLS = ("bye", "goodbye", "good bye", "bye bye", "that's all", "that is all", "nothing else", "hang up",
              "that's it", "that will be all", "i'm done", "all set", "take care", "have a good day",
              "have a nice day", "have a great day", "see you")  # fmt: skip
# what may come with a farewell in a turn that is a farewell and nothing else
_FAREWELL_COMPANY = frozenset(
    {"no", "nope", "nah", "thanks", "thank", "you", "very", "much", "so", "ok", "okay", "great", "perfect",
     "alright", "that's", "thats", "that", "all", "it", "for", "now", "then", "well", "oh", "um", "uh", "again",
     "bye", "goodbye", "good", "have", "a", "nice", "day", "night", "evening", "take", "care", "see", "later",
     "everything", "is", "i'm", "done", "set", "really", "appreciate", "lovely", "cheers", "wonderful", "awesome",
     "sir", "madam", "hang", "up", "will", "be", "else", "nothing", "helpful", "help", "your", "the", "hi", "hello",
     "yes", "yeah", "fine", "was", "we're", "i", "think", "just", "wanted", "to", "say", "kind", "soon", "speak", "talk", "appreciated", "thankyou", "ta", "brilliant", "excellent", "sure"}
)  # fmt: skip
_CARD_WORDS = ("credit card", "debit card", "card number", "my card", "the card", "card is", "visa", "mastercard",
               "master card", "amex", "american express", "cvv", "cvc", "security code", "expiry", "expiration",
               "expires", "card details", "long number on")  # fmt: skip


def is_farewell_only(toks: list[Tok]) -> bool:
    """A farewell and nothing else: "no that's all thanks bye". A farewell word in a turn that asks
    for something ("Bye, I would like to book…": Whisper's "Bye" for "Hi") is not one."""
    padded = words_of(toks)
    if not has_any(padded, _FAREWELLS):
        return False
    return all(t.word in _FAREWELL_COMPANY for t in toks)


def mentions_card(text: str, toks: list[Tok]) -> bool:
    """The caller is reading out (or about to read out) card details, which we never take by voice."""
    if has_any(words_of(toks), _CARD_WORDS):
        return True
    return any(len(run.lstrip("+")) >= 12 for run in digit_runs(toks))


def detect_intent(text: str, toks: list[Tok], info_hit: bool, has_slots: bool) -> str | None:
    padded = words_of(toks)
    if has_any(padded, ("repeat that", "say that again", "come again", "pardon", "what did you say")):
        return "repeat"
    if has_any(
        padded, ("call me back", "call back", "callback", "ring me back", "give me a call", "call me later")
    ):
        return "callback"
    booking_words = any(t.word in _BOOK_WORDS for t in toks) or has_slots
    asks_person = has_any(padded, _HUMAN_VERBS) or (has_any(padded, _WEAK_HUMAN_VERBS) and not booking_words)
    department = any(has_any(padded, words) for words in DEPARTMENT_WORDS.values())
    if (asks_person and (has_any(padded, _HUMAN_WORDS) or department)) or (
        len(toks) <= 3 and any(t.word in _HUMAN_WORDS - {"people"} for t in toks) and not booking_words
    ):
        return "human"
    if " menu " in padded or " keypad " in padded:
        return "menu"
    if is_farewell_only(toks):
        return "goodbye"
    if " cancel " in padded or " cancellation " in padded:
        if has_any(padded, ("policy", "free", "refund", "refundable", "fee", "charge")) and not has_any(
            padded, ("my reservation", "my booking", "cancel it", "cancel my")
        ):
            return "info"
        return "cancel"
    if has_any(padded, _MODIFY_PHRASES) or parse_stay_shift(toks) is not None:
        return "modify"
    question = padded.strip().startswith(_QUESTION_START) or " policy " in padded
    book = any(t.word in _BOOK_WORDS for t in toks)
    if info_hit and (question or not (book or has_slots)):
        return "info"
    if has_any(padded, _PRICE_WORDS):
        return "price"
    if book or has_slots:
        return "book"
    if info_hit:
        return "info"
    return None
