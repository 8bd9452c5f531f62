"""The speech path in line noise (issue 12): the endpointer closes turns in -30 dBFS hiss, turns open
on the speech rather than on the noise before it, a hum heard as "." never reaches the brain, and
Whisper's phrase loops are collapsed. No model is loaded here; Whisper itself is in test_accuracy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from speechsupport import (
    Driver,
    FakeSession,
    FakeStore,
    FakeStt,
    FakeTts,
    MemMedia,
    frames,
    make_engines,
    noise,
    voice,
)

from ari_app.speech import SpeechLoop
from ari_app.speech.stt import collapse_loops, drop_repeats, looks_looped
from ari_app.speech.vad import EndOfTurn, Endpointer, EndpointerConfig, SpeechStarted, WebRtcClassifier

CFG = EndpointerConfig.from_ms(start_ms=60, end_ms=600, pause_ms=200, confirm_ms=200, min_speech_ms=160,
                               max_utterance_s=20)


def events_for(pcm: np.ndarray) -> list[tuple[int, object]]:
    c = WebRtcClassifier(2, -45)
    ep = Endpointer(CFG)
    return [(i, e) for i, f in enumerate(frames(pcm)) if (e := ep.push(f, c.is_speech(f))) is not None]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_minus_30_dbfs_hiss_when_listening_for_20_s_then_no_turn_runs_to_the_maximum(seed: int) -> None:
    evs = events_for(noise(20.0, -30, seed=seed))
    assert not any(isinstance(e, EndOfTurn) and e.reason == "max_length" for _, e in evs)
    # without the adaptive gate webrtcvad calls this hiss speech from the first frames on
    fixed = WebRtcClassifier(2, -45, adaptive=False)
    assert sum(fixed.is_speech(f) for f in frames(noise(2.0, -30, seed=seed))) > 50


def test_given_speech_in_minus_30_dbfs_hiss_when_it_ends_then_the_turn_closes_after_the_hangover() -> None:
    speech = voice(1.5, level=0.35)  # about 15 dB over the hiss
    pcm = noise(5.0, -30, seed=4)
    pcm[16000:16000 + speech.size] = np.clip(pcm[16000:16000 + speech.size].astype(np.int32) + speech, -32768, 32767)
    evs = events_for(pcm)
    starts = [i for i, e in evs if isinstance(e, SpeechStarted)]
    ends = [e for _, e in evs if isinstance(e, EndOfTurn)]
    assert len(ends) == 1 and ends[0].reason == "silence"
    speech_end = (16000 + speech.size) // 160
    assert speech_end <= ends[0].frame <= speech_end + CFG.end_frames + 5
    assert starts and starts[0] >= 16000 // 160  # the turn opened on the speech, not on the noise before it


def test_given_a_constant_hum_when_listening_then_no_turn_opens() -> None:
    t = np.arange(5 * 8000) / 8000
    hum = (np.sin(2 * np.pi * 120 * t) * 32767 * 10 ** (-30 / 20) * np.sqrt(2)).astype(np.int16)
    assert [e for _, e in events_for(hum + noise(5.0, -50, seed=5)) if isinstance(e, EndOfTurn)] == []


async def test_given_a_turn_heard_as_a_full_stop_when_it_ends_then_the_brain_never_hears_it(tmp_path: Path) -> None:
    heard: list[str] = []

    async def respond(text: str) -> AsyncIterator[str]:
        heard.append(text)
        yield "Sorry?"

    stt = FakeStt(".")
    engines = make_engines(tmp_path, stt=stt, tts=FakeTts())
    await engines.warm()
    media = MemMedia()
    loop = SpeechLoop(FakeSession(media, FakeStore()), engines, respond)
    task = asyncio.create_task(loop.run())
    drv = Driver(media)
    await drv.feed(np.concatenate([voice(1.0), np.zeros(12000, np.int16)]))
    await media.inbound.put(None)
    await asyncio.wait_for(task, 5)
    assert stt.calls and heard == [] and media.voiced_ticks() == []


@pytest.mark.parametrize(
    ("looped", "clean"),
    [
        ("I need a room for two for two for two.", "I need a room for two for two."),
        ("I would like to book a room I would like to book a room.", "I would like to book a room."),
        ("On July 12? On July 12?", "On July 12?"),
        ("the the the room", "the the room"),
    ],
)
def test_given_whisper_looping_on_a_phrase_when_cleaned_then_the_loop_is_dropped(looped: str, clean: str) -> None:
    assert drop_repeats(looped) == clean


@pytest.mark.parametrize(
    "kept",
    ["five five five, zero one four two", "very, very nice", "Thank you, thank you.", "Two guests on March fifth."],
)
def test_given_words_people_really_repeat_when_cleaned_then_they_are_kept(kept: str) -> None:
    assert collapse_loops(kept) == kept


def test_given_a_loop_with_variations_when_checked_then_it_is_flagged_for_a_second_decode() -> None:
    assert looks_looped("for two nights for two nights please for two nights for two nights please for two nights")
    assert not looks_looped("I'd like to book a double room for two guests from March fifth to March eighth.")
