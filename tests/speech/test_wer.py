"""The WER scorer's normalisation rules: each removes a difference of writing, never of words heard."""

from __future__ import annotations

import pytest
from wer import normalize, wer


@pytest.mark.parametrize(
    ("ref", "hyp"),
    [
        ("December twenty second", "December 22nd"),
        ("on the twenty-first", "on the 21st"),
        ("five five five, zero one four two", "555-0142"),
        ("at five thirty", "at 5:30"),
        ("at ten o'clock", "at 10"),
        ("at seven p.m.", "at 7 PM"),
        ("at 9am", "at nine a.m."),
        ("OK, thanks", "Okay thanks"),
        ("my e-mail", "my email"),
        ("What time is check-out?", "what time is check out"),
        ("I can't come", "I can not come"),
        ("I'm arriving", "I am arriving"),
        ("Mr. Brown", "Mister Brown"),
        ("one hundred and twenty", "120"),
    ],
)
def test_given_two_writings_of_the_same_words_when_normalised_then_equal(ref: str, hyp: str) -> None:
    assert normalize(ref) == normalize(hyp)


@pytest.mark.parametrize(
    ("ref", "hyp"),
    [
        ("four adults", "for adults"),  # a homophone is still a different word
        ("I am here", "I here"),  # "am" as a verb is kept
        ("it's the room", "is the room"),
        ("fifteen", "fifty"),
        ("the king room", "a king room"),
    ],
)
def test_given_different_words_when_normalised_then_still_different(ref: str, hyp: str) -> None:
    assert normalize(ref) != normalize(hyp)


def test_given_one_wrong_word_in_ten_when_scored_then_wer_is_one_tenth() -> None:
    ref = "I need a twin room for three nights from Monday"
    assert len(normalize(ref)) == 10
    assert wer([ref], ["I need a twin room for three nights from Sunday"]) == pytest.approx(0.1)
