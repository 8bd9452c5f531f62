"""Pure text helpers of the STT engines: the prompt Whisper is primed with, and repeat removal."""

from __future__ import annotations

from ari_app.speech.phrases import Phrases
from ari_app.speech.stt import build_initial_prompt, drop_repeats


def test_given_the_english_phrase_file_when_building_the_prompt_then_it_is_sentences_with_the_hotel_name() -> (
    None
):
    en = Phrases.load("en")
    prompt = build_initial_prompt("Harbour View Hotel", list(en.vocabulary), en.stt_prompt)
    assert prompt.startswith("Good morning, thank you for calling Harbour View Hotel.")
    assert all(word.lower() in prompt.lower() for word in en.vocabulary)
    assert not prompt.endswith(", suite.")  # the vocabulary is in the sentences, not appended as a list


def test_given_site_words_missing_from_the_template_when_building_then_they_follow_as_one_sentence() -> None:
    prompt = build_initial_prompt("", ["suite", "Wi-Fi", "spa", "Wi-Fi"], "Calling {hotel} about a suite.")
    assert prompt == "Calling the hotel about a suite. Wi-Fi, spa."


def test_given_no_template_when_building_then_a_short_head_and_the_words() -> None:
    assert (
        build_initial_prompt("Harbour View Hotel", ["check-in"])
        == "A guest calls Harbour View Hotel. check-in."
    )


def test_given_a_sentence_repeated_back_to_back_when_cleaned_then_it_is_said_once() -> None:
    assert drop_repeats("On July 12? On July 12? Thanks.") == "On July 12? Thanks."
    assert drop_repeats("Yes. No. Yes.") == "Yes. No. Yes."  # not back to back: kept
    assert drop_repeats("Thank you, thank you.") == "Thank you, thank you."  # within a sentence: kept
