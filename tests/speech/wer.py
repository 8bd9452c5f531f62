"""Word error rate with numbers normalised: "March fifth" == "March 5th", "555-0142" == "five five five zero one four two".

The same rules apply to the reference and to the hypothesis, and each one only removes a difference
of *writing*, never of words heard (the rules follow the spirit of Whisper's English normaliser):

1. Case, punctuation and hyphens do not count: "Check-out" == "check out".
2. Every number, spelled or written, becomes its decimal digits as separate tokens, so how a number
   is written (digits, words, grouped, hyphenated) is not an error: "twenty-second" == "22nd",
   "0142" == "zero one four two". Ordinals count as their cardinal ("fifth" == "5th" == "five").
3. Clock times: "5:30" == "five thirty"; "o'clock" is dropped ("ten o'clock" == "10").
4. "a.m."/"am"/"AM" and "p.m."/"pm" are one token each ("am" only right after a number, since
   "I am" is a word).
5. Spelling variants with one meaning: "OK" == "okay", "e-mail" == "email" (rule 1 covers the
   hyphen), "Mr." == "mister", "Mrs." == "missus", "Dr." == "doctor".
6. Negative and unambiguous contractions are expanded: "can't" == "can not", "don't" == "do not",
   "I'm" == "I am", "we're" == "we are", "I've" == "I have", "we'll" == "we will". "'s" and "'d"
   stay as they are: "it's" may be "it is" or "it has", so expanding it would guess.
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
SPELLINGS = {"ok": "okay", "mr": "mister", "mrs": "missus", "dr": "doctor"}  # rule 5
CONTRACTIONS = [  # rule 6, most specific first
    (r"\bcan't\b", "can not"), (r"\bwon't\b", "will not"), (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"), (r"'m\b", " am"), (r"'re\b", " are"), (r"'ve\b", " have"), (r"'ll\b", " will"),
]


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    text = re.sub(r"\ba\.m\.|\ba\.m\b", " am ", text)  # rule 4
    text = re.sub(r"\bp\.m\.|\bp\.m\b", " pm ", text)
    text = re.sub(r"(\d)(am|pm)\b", r"\1 \2", text)
    text = re.sub(r"\bo'clock\b", " ", text)  # rule 3
    text = re.sub(r"(\d):(\d\d)\b", r"\1 \2", text)
    for pattern, repl in CONTRACTIONS:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"\be-mail", "email", text)  # rule 5
    text = text.replace("-", " ")
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"(\d),(\d)", r"\1\2", text)
    words = re.findall(r"[a-z']+|\d+", text)
    out: list[str] = []
    for w in words:
        w = w.strip("'")
        if not w:
            continue
        if w == "am" and not (out and (out[-1].isdigit() or out[-1] in UNITS or out[-1] in TENS)):
            out.append("am")  # "I am", not a time
            continue
        out.append(SPELLINGS.get(w, ORDINALS.get(w, w)))
    return out


def _joins_hundreds(words: list[str], i: int, so_far: int) -> bool:
    nxt = words[i + 1] if i + 1 < len(words) else ""
    return words[i] == "and" and so_far >= 100 and so_far % 100 == 0 and (nxt in UNITS or nxt in TENS)


def normalize(text: str) -> list[str]:
    out: list[str] = []
    words = _tokens(text)
    i = 0
    while i < len(words):
        w = words[i]
        if w in UNITS or w in TENS:
            value, current = 0, 0
            while i < len(words) and (words[i] in UNITS or words[i] in TENS or words[i] in SCALES
                                      or _joins_hundreds(words, i, value + current)):
                x = words[i]
                if x == "and":  # "one hundred and twenty"
                    i += 1
                    continue
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
        else:
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
