"""Cut streamed text into sentences, so speech can start on the first one while the rest arrives."""

from __future__ import annotations

import re

_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(])")
_ABBREV = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "No.", "a.m.", "p.m.", "e.g.", "i.e.", "approx.")


class SentenceSplitter:
    """Feed text deltas; get back the sentences completed so far; ``flush`` returns the tail."""

    def __init__(self, min_chars: int = 12) -> None:
        self._buf = ""
        self._min = min_chars

    def feed(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        start = 0
        for m in _END.finditer(self._buf):
            piece = self._buf[start : m.start()].strip()
            if len(piece) < self._min or piece.endswith(_ABBREV):
                continue
            out.append(piece)
            start = m.end()
        self._buf = self._buf[start:]
        return out

    def flush(self) -> str:
        rest, self._buf = self._buf.strip(), ""
        return rest


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter(min_chars=1)
    parts = splitter.feed(text + " ")
    tail = splitter.flush()
    return [*parts, tail] if tail else parts
