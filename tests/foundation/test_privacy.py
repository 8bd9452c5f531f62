"""Card numbers never reach the database or logs, however speech recognition wrote them."""

from __future__ import annotations

import pytest

from ari_app.privacy import luhn_ok, mask_arguments, mask_card_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4111 1111 1111 1111 ok", "my card is [card ****1111] ok"),
        ("4111-1111-1111-1111", "[card ****1111]"),
        ("number four one one one one one one one one one one one one one one one thanks",
         "number [card ****1111] thanks"),
        ("Four, one, one, one. One one one one, one one one one, one one one one.", "[card ****1111]."),
        ("4111 one one one one one one one one one one one one", "[card ****1111]"),
    ],
)
def test_given_a_card_number_when_masked_then_only_the_last_four_remain(text: str, expected: str) -> None:
    assert mask_card_numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "call me at 555 0142",  # a phone number
        "room four one two for two nights",  # a room number in words
        "4111 1111 1111 1112",  # fails the Luhn check
        "confirmation code one two three four five six",  # too short for a card
    ],
)
def test_given_other_digit_runs_when_masked_then_they_stay(text: str) -> None:
    assert mask_card_numbers(text) == text


def test_given_tool_arguments_when_masked_then_secret_keys_hidden_and_cards_masked() -> None:
    out = mask_arguments({"api_key": "k", "note": "card 4111111111111111", "nested": {"pin": "1234"}, "n": 2})
    assert out == {"api_key": "***", "note": "card [card ****1111]", "nested": {"pin": "***"}, "n": 2}
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
