"""Word error rate with numbers normalised: "March fifth" == "March 5th", "555-0142" == "five five five zero one four two".

Every number, spelled or written, becomes its decimal digits as separate tokens, so the way Whisper
chooses to write a number (digits, words, grouped, hyphenated) does not count as an error.
"""

from __future__ import annotations

import re

UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
ORDINALS = {
    "first": "one", "second": "two", "third": "three", "fourth": "four", "fifth": "five", "sixth": "six",
    "seventh": "seven", "eighth": "eight", "ninth": "nine", "tenth": "ten", "eleventh": "eleven",
    "twelfth": "twelve", "thirteenth": "thirteen", "fourteenth": "fourteen", "fifteenth": "fifteen",
    "sixteenth": "sixteen", "seventeenth": "seventeen", "eighteenth": "eighteen", "nineteenth": "nineteen",
    "twentieth": "twenty", "thirtieth": "thirty",
}
SCALES = {"hundred": 100, "thousand": 1000}


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("-", " ").replace("’", "'")
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"(\d),(\d)", r"\1\2", text)
    words = re.findall(r"[a-z']+|\d+", text)
    return [ORDINALS.get(w, w) for w in words]


def normalize(text: str) -> list[str]:
    out: list[str] = []
    words = _tokens(text)
    i = 0
    while i < len(words):
        w = words[i]
        if w in UNITS or w in TENS:
            value, current = 0, 0
            while i < len(words) and (words[i] in UNITS or words[i] in TENS or words[i] in SCALES):
                x = words[i]
                if x in SCALES:
                    current = max(current, 1) * SCALES[x]
                    if x == "thousand":
                        value, current = value + current, 0
                elif x in TENS:
                    if current % 100:  # "twenty twenty": a new number starts
                        break
                    current += TENS[x]
                else:
                    if current % 10 or (current % 100 and UNITS[x] >= 10):
                        break
                    if current and current % 100 == 0 and current < 100:
                        break
                    current += UNITS[x]
                    i += 1
                    if i < len(words) and words[i] in SCALES:
                        continue
                    # after a unit ("five five", "twenty one two") a new number starts
                    break
                i += 1
            out.extend(str(value + current))
            continue
        if w.isdigit():
            out.extend(w)
        elif w != "and" or not (out and out[-1].isdigit()):
            out.append(w)
        i += 1
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def wer(refs: list[str], hyps: list[str]) -> float:
    errors = sum(edit_distance(normalize(r), normalize(h)) for r, h in zip(refs, hyps, strict=True))
    words = sum(len(normalize(r)) for r in refs)
    return errors / max(1, words)
