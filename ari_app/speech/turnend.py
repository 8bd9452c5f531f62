"""Has the caller finished?  A per-pause verdict from what was said, not only from the silence.

Silence alone is a poor judge on the phone: people pause inside a request ("I'd like a room … for
two adults") as long as they pause at its end, so a fixed hangover either cuts them off or makes
every answer wait. At each pause the speech loop has a speculative transcript of the turn so far;
this module reads it and says how long the silence must last before the turn ends:

- ``finished``: a complete request, a question, a yes or no after a yes/no question, a complete
  date or number — the short hangover;
- ``open``: a sentence that cannot end here ("a room for", "on the", "my name is", "Great." as a
  preamble, half a phone number) — the long hangover;
- ``unsure``: anything else (no closing punctuation, say) — the normal hangover.

Pure functions on text, so the rule is the same for every brain and is tested without audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["finished", "open", "unsure"]

# A transcript ending in one of these words is a caller drawing breath mid-sentence, whatever
# punctuation Whisper put after it ("I'd like a room for." is not a finished request).
OPEN_ENDINGS = frozenset(
    "a an the and or but so to for of with at on in from by my our your his her their is are was were "
    "be am i we i'm we're it's that's um uh er erm like because then about need want would could "
    "should will can into until till than plus also around between under named called this these".split()
)

MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)

# Said alone, these open a request rather than make one ("Great. I'd like to book…", issue 17 D10).
PREAMBLE = frozenset(
    "great okay ok so well hello hi hey alright right um uh er erm oh good morning afternoon evening "
    "yeah yes sure perfect lovely excellent fine hmm".split()
)

# Complete answers to a yes/no question ("Shall I book it?" — "Yes, please.").
YES_NO = frozenset(
    "yes yeah yep yup no nope sure correct right exactly okay ok fine please absolutely definitely "
    "perfect great sounds good that's it is thanks thank you go ahead do not don't".split()
)
# Of those, the ones that decide. "Great!" or "Okay." after "Shall I book it?" is as often the start
# of "Great! And could I also…" as an answer (bench/latency.py cut such turns, issue 12), so an
# answer made only of acknowledgements gets the normal hangover.
DECISIVE = frozenset(
    "yes yeah yep yup no nope sure correct right exactly absolutely definitely go ahead do not don't "
    "thanks thank".split()
)

_BARE_REQUEST = re.compile(
    r"^(?:(?:hi|hello|yes|yeah|okay|ok|so|well|great|um|uh)\s+)*"
    r"(?:i'd like|i would like|i need|i want|i'm looking for|i am looking for|can i get|could i get|"
    r"can i have|could i have|i'd love|we'd like|we would like|we need|we want)\b"
)
_DETAIL = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|for|from|on|until|tonight|tomorrow|today|"
    r"weekend|next|this|monday|tuesday|wednesday|thursday|friday|saturday|sunday|nights?|adults?|"
    r"guests?|people|please)\b|\b(" + "|".join(sorted(MONTHS)) + r")\b"
)
_BEFORE_A_DAY = frozenset("on from until till by before after to".split())
_DIGIT_WORDS = frozenset("zero oh one two three four five six seven eight nine".split())
_NUMBER_CONTEXT = re.compile(r"\b(number|phone|code|mobile|cell|call me|reach me|extension)\b")
# a question that opens with an auxiliary ("Shall I…?", "Is that…?", "So, would you…?")
_YES_NO_QUESTION = re.compile(
    r"^(?:\w+,\s*)?(shall|should|would|will|do|does|did|is|are|can|could|may)\s+"
    r"(i|you|we|it|that|this|there|these|those)\b[^?]*\?\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9']+")
# Whisper writes a "for" or "to" that the caller has not finished as a digit ("I'd like a room for …"
# is heard as "I'd like room 4."): a lone 2 or 4 at the end is as likely a breath as a number
_FOR_TO_DIGITS = frozenset({"2", "4"})


@dataclass(frozen=True)
class Hangovers:
    """Silence (in 20 ms frames) that ends a turn, per verdict."""

    finished: int
    unsure: int
    open: int

    def for_verdict(self, verdict: Verdict) -> int:
        return {"finished": self.finished, "unsure": self.unsure, "open": self.open}[verdict]


def asks_yes_no(agent_text: str) -> bool:
    """Did our last sentence ask a yes/no question ("Shall I book it?", "Is that correct?")?"""
    tail = agent_text.strip()
    if not tail.endswith("?"):
        return False
    last = re.split(r"(?<=[.!?])\s+", tail)[-1]
    return bool(_YES_NO_QUESTION.search(last))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _trailing_digit_run(words: list[str]) -> int:
    n = 0
    for w in reversed(words):
        if w in _DIGIT_WORDS or w.isdigit():
            n += len(w) if w.isdigit() else 1
        else:
            break
    return n


def judge(text: str, *, expecting_yes_no: bool = False) -> Verdict:
    """The verdict on a speculative transcript of the caller's turn so far."""
    raw = text.strip()
    words = _words(raw)
    if not words:
        return "open"  # nothing said yet (or Whisper heard only noise): keep listening
    if raw.endswith(("...", "…", ",", "-", ";", ":")):
        return "open"
    last = words[-1]
    if last in OPEN_ENDINGS:
        return "open"
    if last in MONTHS and len(words) > 1 and words[-2] in _BEFORE_A_DAY:
        return "open"  # "arriving on March" waits for the day; "in October" is complete
    if expecting_yes_no and all(w in YES_NO for w in words):
        return "finished" if any(w in DECISIVE for w in words) else "unsure"
    if len(words) <= 2 and all(w in PREAMBLE for w in words):
        return "open"  # "Great." / "Okay, so" before the request itself
    digits = _trailing_digit_run(words)
    if digits and _NUMBER_CONTEXT.search(" ".join(words)):
        # a phone number or code being dictated: a short run is half of it
        return "finished" if digits >= 7 or (digits >= 4 and "code" in words) else "open"
    if last in _FOR_TO_DIGITS and words[-2:-1] and not (words[-2].isdigit() or words[-2] in _DIGIT_WORDS):
        return "unsure"  # "room 4." may be "room for …": the normal hangover, never the short one
    if not raw.endswith("?") and _BARE_REQUEST.match(" ".join(words)) and not _DETAIL.search(" ".join(words)):
        # "I need a twin room." is a sentence, but a booking request with no detail yet is mostly
        # followed by one ("… for three nights"): the normal hangover, not the short one
        return "unsure"
    if raw.endswith(("?", ".", "!")):
        return "finished"
    return "unsure"


def reads_finished(text: str) -> bool:
    """Does a transcript read as a finished sentence (the short hangover applies)?"""
    return judge(text) == "finished"
