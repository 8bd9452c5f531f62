"""Sentence splitting, streaming order of TtsEngine.speak, reply text joining and the prompt cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from speechsupport import FakeTts

from ari_app.speech.cache import PromptCache, prompt_key
from ari_app.speech.tts import SentenceSplitter, join_chunks, split_sentences, text_chunks

# ---- SentenceSplitter ----------------------------------------------------------------------------


def test_given_chunks_when_a_sentence_completes_then_it_is_returned_at_once() -> None:
    s = SentenceSplitter()
    assert s.feed("Certainly") == []
    assert s.feed(". I can") == ["Certainly."]
    assert s.feed(" help with that! Anything") == ["I can help with that!"]
    assert s.feed(" else?") == ["Anything else?"]  # a chunk ending a sentence is not held back
    assert s.feed("The rate is 3.") == []  # ...unless it may go on as "3.5"
    assert s.feed("5 percent. Dr.") == ["The rate is 3.5 percent."]  # an abbreviation waits too
    assert s.flush() == ["Dr."]
    assert s.flush() == []


def test_given_abbreviations_and_decimals_when_split_then_they_do_not_end_a_sentence() -> None:
    text = "Dr. Brown arrives at 3 p.m. tomorrow. The rate is 3.5 percent higher. OK?"
    assert split_sentences(text) == [
        "Dr. Brown arrives at 3 p.m. tomorrow.",
        "The rate is 3.5 percent higher.",
        "OK?",
    ]


def test_given_quotes_and_ellipsis_when_split_then_closing_marks_stay_with_their_sentence() -> None:
    assert split_sentences('He said "yes." Then… we left? Fine') == [
        'He said "yes."',
        "Then…",
        "we left?",
        "Fine",
    ]


def test_given_a_runaway_sentence_when_longer_than_max_then_cut_at_a_comma_or_space() -> None:
    s = SentenceSplitter(max_chars=40)
    out = s.feed("We have single rooms, double rooms, twin rooms and suites with a view ")
    assert out and all(len(x) <= 40 for x in out)
    assert out[0] == "We have single rooms, double rooms,"
    assert (
        " ".join([*out, *s.flush()])
        == "We have single rooms, double rooms, twin rooms and suites with a view"
    )


@pytest.mark.parametrize(
    ("parts", "joined"),
    [
        (["There are four adults.", "I have a family room."], "There are four adults. I have a family room."),
        (["Hel", "lo, we", " have rooms."], "Hello, we have rooms."),
        (["The rate is 3.", "5 percent."], "The rate is 3.5 percent."),
        (["Certainly. ", "I can help."], "Certainly. I can help."),
        (['He said "yes."', "Then we left."], 'He said "yes." Then we left.'),
    ],
)
def test_given_reply_chunks_when_joined_then_sentences_are_spaced_and_tokens_are_not(
    parts: list[str], joined: str
) -> None:
    assert join_chunks(parts) == joined


# ---- streaming order ---------------------------------------------------------------------------


async def test_given_a_slow_text_source_when_speaking_then_first_audio_comes_before_the_last_text() -> None:
    tts = FakeTts(frames_per_word=1)
    first_audio = asyncio.Event()
    events: list[str] = []

    async def brain() -> AsyncIterator[str]:
        events.append("text 1")
        yield "Certainly."  # no trailing space: the next chunk must still start a new sentence
        # the second sentence is held back until the caller could already hear the first one
        await first_audio.wait()
        events.append("text 2")
        yield "Your room is ready."

    gen = tts.speak(brain())
    chunks: list[np.ndarray] = []
    async with asyncio.timeout(5):  # a guard against a deadlock, not a timing assertion
        async for pcm in gen:
            events.append(f"audio {len(chunks) + 1}")
            chunks.append(pcm)
            first_audio.set()
    assert events == ["text 1", "audio 1", "text 2", "audio 2"]
    assert tts.texts == ["Certainly.", "Your room is ready."]


async def test_given_the_consumer_stops_early_when_speaking_then_the_text_reader_is_cancelled() -> None:
    tts = FakeTts(frames_per_word=1)
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                yield "More. "
                await asyncio.sleep(0)
        finally:
            closed.set()

    gen = tts.speak_sentences(endless())
    first = await anext(gen)
    await gen.aclose()  # barge-in: the loop closes the generator
    assert first[0] == "More."
    assert closed.is_set()


async def test_given_a_failing_text_source_when_speaking_then_the_error_reaches_the_consumer() -> None:
    tts = FakeTts(frames_per_word=1)

    async def broken() -> AsyncIterator[str]:
        yield "One. "
        raise RuntimeError("brain exploded")

    with pytest.raises(RuntimeError, match="brain exploded"):
        async for _ in tts.speak(broken()):
            pass


async def test_given_punctuation_only_sentences_when_speaking_then_they_are_not_synthesised() -> None:
    tts = FakeTts(frames_per_word=1)
    out = [s async for s, _ in tts.speak_sentences(text_chunks(["... ", "Yes. ", "!"]))]
    assert out == ["Yes."] and tts.texts == ["Yes."]


# ---- PromptCache -------------------------------------------------------------------------------


async def test_given_a_new_prompt_when_requested_twice_then_synthesised_once_and_served_from_memory(
    tmp_path: Path,
) -> None:
    tts = FakeTts(frames_per_word=2)
    cache = PromptCache(tmp_path)
    a = await cache.get(tts, "One moment, please.")
    b = await cache.get(tts, "One moment, please.")
    assert tts.texts == ["One moment, please."]
    assert b is a and (cache.misses, cache.hits) == (1, 1)
    files = list(tmp_path.rglob("*.s16"))
    assert len(files) == 1 and files[0].parent.name == "fake_tone"
    assert files[0].stem == prompt_key(tts.voice_id, "One moment, please.")


async def test_given_a_restarted_process_when_a_prompt_is_on_disk_then_it_is_read_not_synthesised(
    tmp_path: Path,
) -> None:
    first = FakeTts(frames_per_word=2)
    rendered = await PromptCache(tmp_path).get(first, "Goodbye.")
    again = FakeTts(frames_per_word=2)
    cache = PromptCache(tmp_path)  # empty memory, same directory
    assert cache.get_cached(again.voice_id, "Goodbye.") is not None
    pcm = await cache.get(again, "Goodbye.")
    assert again.texts == []
    np.testing.assert_array_equal(pcm, rendered)


async def test_given_other_text_or_voice_when_looked_up_then_no_stale_prompt(tmp_path: Path) -> None:
    tts = FakeTts()
    cache = PromptCache(tmp_path)
    await cache.get(tts, "Welcome.")
    assert cache.get_cached(tts.voice_id, "Welcome!") is None
    assert cache.get_cached("piper:other-voice", "Welcome.") is None


async def test_given_an_unwritable_directory_when_caching_then_the_prompt_is_kept_in_memory(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    tts = FakeTts()
    cache = PromptCache(blocker / "sub")
    pcm = await cache.get(tts, "Hello.")
    assert cache.get_cached(tts.voice_id, "Hello.") is pcm


async def test_given_no_directory_when_caching_then_memory_only(tmp_path: Path) -> None:
    tts = FakeTts()
    cache = PromptCache(None)
    await cache.get(tts, "Hello.")
    await cache.get(tts, "Hello.")
    assert tts.texts == ["Hello."] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("sentence", "pieces"),
    [
        (
            "We have a double room for two adults from March 5 to March 8, and it costs $240 in total.",
            ["We have a double room for two adults from March 5 to March 8,", "and it costs $240 in total."],
        ),
        ("Your total is $1,240 for the four nights in the suite.", ["Your total is $1,240 for the four nights in the suite."]),
        ("Yes, of course.", ["Yes, of course."]),  # short: one piece
    ],
)
def test_given_a_long_first_sentence_when_split_then_its_first_clause_is_spoken_first(
    sentence: str, pieces: list[str]
) -> None:
    from ari_app.speech.tts import split_first_clause

    assert split_first_clause(sentence) == pieces
