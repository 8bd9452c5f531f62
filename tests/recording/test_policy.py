"""The pure parts of the card policy: payment pause in frames, card detection, spans to silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ari_app.privacy import mask_card_numbers
from ari_app.recording.policy import (
    CallerTurn,
    PaymentPause,
    Timeline,
    card_spans,
    contains_card_number,
    merge_spans,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RATE = 8000


def test_given_card_said_when_checked_raw_or_masked_then_found_and_other_numbers_not() -> None:
    said = "sure it's 4111 1111 1111 1111 expiry next year"
    assert contains_card_number(said)
    assert contains_card_number(mask_card_numbers(said))
    assert not contains_card_number("my phone is 555 0100 and we are 2 adults")
    assert contains_card_number("4111 1111 1111 1112")  # fails Luhn: still card data (fail closed)
    assert contains_card_number("Card is 555-55, 555-55, 555-4444.")  # real Whisper output
    assert contains_card_number("[card ****]") and contains_card_number("security code [cvv ***]")
    spelled = "four one one one one one one one one one one one one one one one"
    assert contains_card_number(spelled)  # STT may write the digits as words
    assert not contains_card_number("one night for two adults and one child")


def test_given_payment_tool_when_run_then_pause_holds_for_hold_frames_and_extends() -> None:
    pause = PaymentPause(RATE, hold_s=2.0)
    assert not pause.tool_started("check_availability", 100)
    assert not pause.paused_at(150)
    assert pause.tool_started("generate_payment_link", 1000)
    assert not pause.paused_at(999)
    assert pause.paused_at(1000) and pause.paused_at(1000 + 2 * RATE - 1)
    assert not pause.paused_at(1000 + 2 * RATE)
    pause.tool_started("send_sms_confirmation", 1000 + RATE)
    assert pause.paused_at(1000 + 2 * RATE)


def test_given_payment_stage_when_asked_then_paused_while_stage_lasts() -> None:
    stage = ["ask_name"]
    pause = PaymentPause(RATE, stage=lambda: stage[0])
    assert not pause.paused_at(10)
    stage[0] = "take_payment"
    assert pause.paused_at(11)
    stage[0] = "anything_else"
    assert not pause.paused_at(12)


def test_given_checkpoints_when_mapping_times_then_frames_interpolated_and_clamped() -> None:
    tl = Timeline(RATE)
    tl.add(100.0, 0)
    tl.add(101.0, 8000)
    tl.add(105.0, 16000)  # the wall clock jumped 3 s forward in one second of audio
    assert tl.frame_at(99.0) == 0
    assert tl.frame_at(100.5) == 4000
    assert tl.frame_at(103.0) == 16000  # clamped to the next checkpoint, not 24000
    assert tl.frame_at(105.25) == 18000


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_given_card_turn_when_spans_computed_then_reach_back_over_previous_turn_with_margins() -> None:
    turns = [
        CallerTurn("I'd like to pay", _at(10), 1000),
        CallerTurn(mask_card_numbers("it is 4111 1111 1111 1111"), _at(20), 3000),
        CallerTurn("thanks", _at(30), 500),
    ]

    def frame_at(t: datetime) -> int:
        return int((t - T0).total_seconds() * RATE)

    spans = card_spans(turns, frame_at, stt_margin_s=2.0, guard_s=0.5)
    # start: min(20 - 3, 10 - 1) - 2 = 7 s; end: 20 + 0.5 s
    assert spans == [(7 * RATE, int(20.5 * RATE))]
    assert card_spans(turns[:1] + turns[2:], frame_at) == []


def test_given_first_turn_is_card_when_spans_computed_then_clamped_at_zero_and_end() -> None:
    turns = [CallerTurn("4111-1111-1111-1111", _at(2), 1500)]
    spans = card_spans(turns, lambda t: int((t - T0).total_seconds() * RATE), total_frames=18000)
    assert spans == [(0, 18000)]


def test_given_overlapping_spans_when_merged_then_one() -> None:
    assert merge_spans([(10, 20), (0, 5), (15, 30), (30, 31)]) == [(0, 5), (10, 31)]
