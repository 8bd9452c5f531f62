"""Whisper hotwords: the holiday names and the hotel's room types that a booking is asked by
(issue 11: tiny.en heard a flite caller's "the Easter weekend" as "the start weekend")."""

from __future__ import annotations

import pytest
from flitevoice import VOICES, speak_or_skip

from ari_app.speech import SpeechEngines, WhisperStt
from ari_app.speech.stt import HOTWORDS_EN, hotel_hotwords

HOLIDAY_LINES = [
    ("Do you have anything for the Easter weekend for two?", "easter weekend"),
    ("Is there a room for New Year's Eve for two adults?", "new year's eve"),
]


def test_given_the_hotels_room_types_when_hotwords_are_built_then_holidays_rooms_and_codes_are_all_there() -> None:
    words = hotel_hotwords(["King Deluxe", " Harbour Suite ", "King Deluxe", ""])
    assert words.startswith("Easter weekend, Christmas Eve, New Year's Eve")
    assert "king deluxe, harbour suite, confirmation code" in words
    assert words.count("king deluxe") == 1
    assert hotel_hotwords([]) == HOTWORDS_EN


@pytest.mark.slow
def test_given_flite_callers_naming_a_holiday_when_transcribed_with_hotwords_then_every_voice_is_heard_right(
    real_engines: SpeechEngines,
) -> None:
    stt = real_engines.stt
    assert isinstance(stt, WhisperStt)
    clips = [(speak_or_skip(line, v), want) for line, want in HOLIDAY_LINES for v in VOICES]
    saved = stt.hotwords
    try:
        heard: dict[str, list[str]] = {}
        for label, words in (("none", None), ("hotel", hotel_hotwords(["Standard Queen", "King Deluxe"]))):
            stt.hotwords = words
            heard[label] = [stt._run(pcm, "en").text.lower() for pcm, _ in clips]
    finally:
        stt.hotwords = saved
    hits = {k: sum(want in h for h, (_, want) in zip(v, clips, strict=True)) for k, v in heard.items()}
    print(f"\nholiday named right: {hits} of {len(clips)}; heard {heard}")
    assert hits["hotel"] == len(clips), heard["hotel"]
    assert hits["hotel"] >= hits["none"]
