"""Card data never reaches the database or logs, however speech recognition wrote it (issue 18 D1).

The corpus below holds what Whisper really produced for spoken card numbers (probe 7), the regroupings
of one digit added or dropped, and card numbers in words, groups and mixtures. Every one must come out
with no run of the card's digits left, Luhn-valid or not. The checker is independent of the masker:
it looks for any four consecutive digits of the card (in figures) in the output.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from ari_app.privacy import (
    CardMaskFilter,
    contains_card_data,
    luhn_ok,
    mask_arguments,
    mask_card_numbers,
    mask_for_log,
    watch_payment_stage,
)

WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
         "seven": "7", "eight": "8", "nine": "9", "eleven": "11", "twelve": "12", "twenty": "20", "forty": "40"}

# (what STT wrote, digits that must not survive in any form)
CORPUS: list[tuple[str, str]] = [
    # probe 7: real Whisper tiny.en outputs
    ("My card number is 4,111, 1111,111, 1111, 1111,111, expiry 1228, security code 123.", "4111111111111111111"),
    ("For 111 111 111 111 111 111 111 111", "111111111111111111111111"),
    ("The card is 555-55, 555-55, 555-4444.", "55555555554444"),
    ("My Amix is 3,780-800-202463-1005.", "37808002024631005"),
    ("My card number is 4111 1111 11111 11111.", "411111111111111111"),
    ("4111 111 111 111 1111 The card is 555-555555554444.", "4111111111111111"),
    ("My card number is 411111 11111 11111, expiry 1228, security code 123.", "4111111111111111"),
    # one digit dropped / added / regrouped
    ("4111 1111 1111 111", "411111111111111"),
    ("4111 1111 1111 11111", "41111111111111111"),
    ("4111 1111 / 1111 1111", "4111111111111111"),
    ("4111 1111 1111 1112", "4111111111111112"),  # fails Luhn: masked anyway
    ("it's 4111-1111-1111-1111 thanks", "4111111111111111"),
    ("4111.1111.1111.1111", "4111111111111111"),
    ("4111111111111111", "4111111111111111"),
    ("3782 822463 10005", "378282246310005"),
    ("5555 5555 5555 4444", "5555555555554444"),
    ("card 6011 0009 9013 9424 please", "6011000990139424"),
    # words, mixtures, fillers
    ("four one one one one one one one one one one one one one one one", "4111111111111111"),
    ("Four, one, one, one. One one one one, one one one one, one one one one.", "4111111111111111"),
    ("4111 one one one one one one one one one one one one", "4111111111111111"),
    ("five five five five, uh, five five five five, five five five five, four four four four", "5555555555554444"),
    ("4111 1111, sorry, 1111 1111", "4111111111111111"),
    ("forty one eleven, eleven eleven, eleven eleven, eleven eleven", "4111111111111111"),
    ("double four one one triple one one one one one one one one one", "4411111111111111"),
    ("it's 4111 and 1111 and 1111 and 1111", "4111111111111111"),
    ("４１１１ １１１１ １１１１ １１１１", "4111111111111111"),  # full-width figures
]


def _leaks(output: str, secret: str) -> bool:
    """Any 4 consecutive digits of the secret, written as figures or words, in the output."""
    spelled = re.sub(r"[a-z]+", lambda m: WORDS.get(m.group(0), " "), unicodedata.normalize("NFKC", output).lower())
    # drop markers (a Luhn-valid card keeps its last four by design), then collapse separators
    without_markers = re.sub(r"\[[^\]]*\]", " | ", spelled)
    for chunk in without_markers.split("|"):
        digits = re.sub(r"\D", "", chunk)
        for i in range(len(secret) - 3):
            if secret[i : i + 4] in digits:
                return True
    return False


@pytest.mark.parametrize(("said", "secret"), CORPUS)
def test_given_card_in_any_stt_spelling_when_masked_then_no_four_digits_of_it_survive(said: str, secret: str) -> None:
    assert _leaks(said, secret), "the checker must see the card in the raw text"
    out = mask_card_numbers(said)
    assert not _leaks(out, secret), out
    assert contains_card_data(said) and contains_card_data(out)
    assert mask_card_numbers(out) == out  # idempotent


@pytest.mark.parametrize(
    ("said", "secret"),
    [
        ("expiry 1228, security code 123.", "1228"),
        ("expiry 1228, security code 123.", "123"),
        ("It expires on 927 in the CVV as 456.", "927"),
        ("It expires on 927 in the CVV as 456.", "456"),
        ("the CVC is 7 3 1", "731"),
        ("my security code is four five six", "456"),
        ("321 is the security code", "321"),
        ("expiration date twelve twenty eight", "122028"),
        ("valid thru 12/28", "1228"),
        ("exp. 09 27", "0927"),
        ("it expires in December 2028", "2028"),
        ("the three digit code on the back is 852", "852"),
        ("verification code 4 4 1 2", "4412"),
    ],
)
def test_given_cvv_or_expiry_when_masked_then_digits_gone(said: str, secret: str) -> None:
    out = mask_card_numbers(said)
    assert secret not in re.sub(r"\D", "", re.sub(r"[a-z]+", lambda m: WORDS.get(m.group(0), " "), out.lower()))
    assert "[cvv ***]" in out or "[expiry ***]" in out
    assert contains_card_data(said)


def test_given_expiry_in_words_with_month_when_masked_then_month_masked_too() -> None:
    out = mask_card_numbers("it expires in December 2028")
    assert "December" not in out and "2028" not in out


def test_given_luhn_valid_card_when_masked_then_last_four_kept_for_staff() -> None:
    assert mask_card_numbers("my card is 4111 1111 1111 1111 ok") == "my card is [card ****1111] ok"
    # a Luhn-failing run may hold the expiry or CVV at its end: nothing of it is kept
    assert mask_card_numbers("4111 1111 1111 1111 1228") == "[card ****]"


@pytest.mark.parametrize(
    "text",
    [
        "call me at 555 0142",  # a phone number
        "room four one two for two nights",  # a room number in words
        "confirmation code one two three four five six",  # too short for a card
        "I would like to book a room for two adults next Friday for two nights.",
        "we are 2 adults and 1 child from the 12th to the 14th",
        "a double room for two, please",
        "My name is Marie Lopez, that's L O P E Z.",
        "",
    ],
)
def test_given_other_text_when_masked_then_it_stays(text: str) -> None:
    assert mask_card_numbers(text) == text
    assert not contains_card_data(text)


def test_given_payment_stage_when_masked_then_any_number_of_three_digits_is_masked() -> None:
    assert mask_card_numbers("it's 12 28 and 456", sensitive=True) == "it's [digits]"
    assert mask_card_numbers("it's 12 28, as I said before, 456", sensitive=True) == "it's [digits], as I said before, [digits]"
    assert mask_card_numbers("it's 12 28 and 456", sensitive=False) == "it's 12 28 and 456"
    assert mask_card_numbers("two adults", sensitive=True) == "two adults"


def test_given_call_in_a_payment_stage_when_masked_by_default_then_payment_mode_follows_the_stage() -> None:
    import contextvars

    stage = ["ask_dates"]

    def run() -> tuple[str, str]:
        watch_payment_stage(lambda: stage[0])
        before = mask_card_numbers("it is 927")
        stage[0] = "take_payment"
        return before, mask_card_numbers("it is 927")

    before, during = contextvars.copy_context().run(run)
    assert before == "it is 927" and during == "it is [digits]"
    assert mask_card_numbers("it is 927") == "it is 927"  # another call (context) is not affected


def test_given_log_line_with_ids_when_masked_for_log_then_ids_stay_and_cards_go() -> None:
    line = "FastAGI ivr for PJSIP/guest-0000000e (1795615288.26) from 127.0.0.1:40632 at 2026-12-02 11:25:01"
    assert mask_for_log(line) == line
    assert "4111" not in mask_for_log("caller said 4111 1111 1111 111 on 10.0.0.1")


def test_given_handler_with_card_filter_when_logging_card_then_message_and_traceback_masked() -> None:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(CardMaskFilter())
    logger = logging.getLogger("test.privacy.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("heard %r", "4111 1111 1111 111")
        try:
            raise ValueError("bad input 4111 1111 1111 111, expiry 1228")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = "\n".join(records)
    assert "heard" in text and "ValueError" in text
    assert "1111" not in text and "1228" not in text


def test_given_tool_arguments_when_masked_then_secret_keys_hidden_and_cards_masked() -> None:
    out = mask_arguments({"api_key": "k", "note": "card 4111111111111111", "nested": {"pin": "1234"}, "n": 2})
    assert out == {"api_key": "***", "note": "card [card ****1111]", "nested": {"pin": "***"}, "n": 2}
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


async def test_given_whisper_card_lines_when_stored_and_call_closed_then_no_card_digits_in_the_raw_database_file(
    sqlite_sessions: Any, tmp_path: Path
) -> None:
    """Issue 18 D1, probe 7: these lines were stored unchanged in conversation_turns.content and
    voice_calls.transcript, and were in the raw DB bytes."""
    from models.store import CallStore

    store = CallStore(sqlite_sessions)
    row = await store.open_call(session_id="sess-pci", channel_id="chan-pci")
    lines = [
        "My card number is 4,111, 1111,111, 1111, 1111,111, expiry 1228, security code 123.",
        "For 111 111 111 111 111 111 111 111",
        "The card is 555-55, 555-55, 555-4444. It expires on 927 in the CVV as 456. "
        "My Amix is 3,780-800-202463-1005.",
    ]
    for text in lines:
        await store.add_turn(row, "caller", text)
    n = await store.add_turn(row, "agent", "You said 4111 1111 1111 111?")
    await store.mark_turn_interrupted(row, n, "You said 4111 1111 1111")
    await store.add_tool_run(row, "create_lead", {"interest": "pay with 4111 1111 1111 111"}, ok=False,
                             error="interest: input '4111 1111 1111 111, expiry 1228' is too long")
    await store.close_call(row)
    await sqlite_sessions.kw["bind"].dispose()
    raw = (tmp_path / "test.db").read_bytes()
    # secrets with their spoken context: bare 3-digit runs also occur in the file's timestamps
    for secret in (b"4,111", b" 1111", b"111 111", b"555-55", b"4444", b"expiry 1228", b"security code 123",
                   b"on 927", b"as 456", b"3,780", b"1005"):
        assert secret not in raw, secret
    assert b"[card ****]" in raw and b"[cvv ***]" in raw
