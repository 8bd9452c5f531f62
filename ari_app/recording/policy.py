"""What keeps card numbers out of a recording: two layers, both pure and counted in frames.

Card details are never taken by voice (payment goes by link), but a caller may read a number out
anyway. One layer alone is not enough:

1. **Payment pause (before the fact).** The payment part of the dialog is where a caller is most
   likely to volunteer a card: right after the brain runs a payment tool (``generate_payment_link``,
   ``send_sms_confirmation``) and announces the link, and while a brain sits in a payment stage
   (``CallContext.state.stage`` naming "pay" or "card"). From the frame a payment tool starts, both
   channels are recorded as silence for ``hold_s`` of call time (extended by every further payment
   tool run and for as long as the stage stays a payment stage). The hold is measured in recorded
   frames, not wall-clock time, so it is exact and needs no timer task.
2. **Redaction (after the fact).** A caller may read a number at any other moment. When the call
   ends, every stored caller turn whose text held card data by the fail-closed rule of
   :mod:`ari_app.privacy` (any run of 12+ digits or digit words, Luhn or not, a CVV, an expiry;
   stored masked as ``[card ****]``, ``[cvv ***]`` …) has the caller channel of its audio span
   overwritten with silence. See :func:`card_spans` for how the span is bounded. A recording left
   behind by a crash is redacted the same way at the next start, with everything after the last
   stored caller turn silenced too (nobody checked that audio).

Over-silencing a few seconds of caller audio is the accepted price: a recording with a gap is still
useful; a recording with a card number in it is a liability.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ari_app.privacy import contains_card_data, is_payment_stage

PAYMENT_TOOLS = frozenset({"generate_payment_link", "send_sms_confirmation"})


def contains_card_number(text: str) -> bool:
    """True for card data in any spelling speech-to-text produces (a digit run of 12 or more, Luhn or
    not, a CVV or an expiry) and for a marker the store left in its place (``[card ****]``): the same
    fail-closed rule as :func:`ari_app.privacy.mask_card_numbers`, so text stored masked always gets
    its audio silenced."""
    return contains_card_data(text)


@dataclass
class PaymentPause:
    """Decides, frame by frame, whether the recorder writes silence (layer 1 above)."""

    sample_rate: int = 8000
    hold_s: float = 60.0
    tools: frozenset[str] = PAYMENT_TOOLS
    stage: Callable[[], str] | None = None  # reads the call's dialog stage, if a brain keeps one
    _from: int = 0
    _until: int = 0

    def tool_started(self, name: str, at_frame: int) -> bool:
        """Note a tool run at recorder position ``at_frame``; True when it opens (or extends) a pause."""
        if name not in self.tools:
            return False
        if at_frame >= self._until:
            self._from = at_frame
        self._until = max(self._until, at_frame + int(self.hold_s * self.sample_rate))
        return True

    def paused_at(self, frame: int) -> bool:
        if self._from <= frame < self._until:
            return True
        if self.stage is not None:
            try:
                return is_payment_stage(self.stage())
            except Exception:  # a stage we cannot read must not stop the media clock
                return False
        return False


@dataclass
class Timeline:
    """Maps wall-clock instants to recorder frame positions.

    Stored turns carry a wall-clock ``created_at``; the recording is counted in frames. The recorder
    adds a checkpoint (time, frame) about once a second, so a jump of the system clock (NTP) can
    move a mapped position by at most the distance to the next checkpoint.
    """

    sample_rate: int = 8000
    times: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def add(self, t: float, frame: int) -> None:
        self.times.append(t)
        self.frames.append(frame)

    def frame_at(self, t: float) -> int:
        if not self.times:
            return 0
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            return 0
        pos = self.frames[i] + int((t - self.times[i]) * self.sample_rate)
        if i + 1 < len(self.frames):
            pos = min(pos, self.frames[i + 1])
        return max(pos, self.frames[i])


@dataclass(frozen=True)
class CallerTurn:
    """What redaction needs of a stored caller turn."""

    text: str
    stored_at: datetime
    audio_ms: float = 0.0


def card_spans(
    turns: Sequence[CallerTurn],
    frame_at: Callable[[datetime], int],
    *,
    sample_rate: int = 8000,
    total_frames: int | None = None,
    stt_margin_s: float = 3.0,
    guard_s: float = 0.5,
) -> list[tuple[int, int]]:
    """Frame spans ``[start, end)`` of the caller channel to silence (layer 2 above), merged and sorted.

    A turn is stored after its audio ended and was transcribed, so its store time bounds the span's
    end (plus ``guard_s`` for checkpoint granularity). Its start is bounded by looking back over both
    this turn's and the previous caller turn's audio: the speech loop merges a turn with the one before
    it when the caller goes on before we answered, and a caller may start speaking while the previous
    turn is still being transcribed, so the card's digits can begin before the previous turn was
    stored. Start = the earlier of (store time - own audio length) and (previous store time - previous
    audio length), less ``stt_margin_s`` for transcription time.
    """
    ordered = sorted(turns, key=lambda t: t.stored_at)
    margin = int(stt_margin_s * sample_rate)
    guard = int(guard_s * sample_rate)
    spans: list[tuple[int, int]] = []
    prev: CallerTurn | None = None
    for turn in ordered:
        if contains_card_number(turn.text):
            end = frame_at(turn.stored_at) + guard
            start = frame_at(turn.stored_at) - int(turn.audio_ms * sample_rate / 1000)
            if prev is not None:
                start = min(start, frame_at(prev.stored_at) - int(prev.audio_ms * sample_rate / 1000))
            start = max(0, start - margin)
            if total_frames is not None:
                end = min(end, total_frames)
            if end > start:
                spans.append((start, end))
        prev = turn
    return merge_spans(spans)


def merge_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def recovered_spans(
    turns: Sequence[CallerTurn],
    *,
    started_at: float,
    total_frames: int,
    sample_rate: int = 8000,
    stt_margin_s: float = 5.0,
    guard_s: float = 2.5,
) -> list[tuple[int, int]]:
    """Caller-channel spans to silence in a recording a crash left behind (its timeline is lost).

    ``started_at`` is the wall-clock time of frame 0, estimated from the file (last write minus its
    length), so the margins are wider than :func:`card_spans` uses for a live call. Fail closed on
    what nobody checked: the audio after the last caller turn stored while this file was written was
    never transcribed (the crash came first), so it is silenced from that turn to the end; with no
    such turn, the whole caller channel is.
    """
    ended_at = started_at + total_frames / sample_rate

    def frame_at(t: datetime) -> int:
        return int((t.timestamp() - started_at) * sample_rate)

    mine = [t for t in turns if t.stored_at.timestamp() <= ended_at + guard_s]
    spans = card_spans(
        mine, frame_at, sample_rate=sample_rate, total_frames=total_frames, stt_margin_s=stt_margin_s, guard_s=guard_s
    )
    last = max((frame_at(t.stored_at) for t in mine), default=None)
    tail_from = 0 if last is None else max(0, last + int(guard_s * sample_rate))
    if tail_from < total_frames:
        spans.append((tail_from, total_frames))
    return merge_spans(spans)
