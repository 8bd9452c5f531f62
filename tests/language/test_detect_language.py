"""Language detected from the caller's first turn when the STT model is multilingual: the loop
switches its voice for the rest of the call, and nothing changes with an English-only model.

A fake STT reports the detected language; no multilingual model is downloaded or loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langsupport import (
    DetectingStt,
    FakeControl,
    RecordingBrain,
    StoreWithSessions,
    two_language_engines,
    wait_until,
)
from speechsupport import Driver, FakeSession, FakeStt, MemMedia, echo_respond, make_engines, silence, voice

from ari_app.conversation import CallConversation, ConversationDeps
from ari_app.ivr.config import MenuStore
from ari_app.session import CallInfo
from ari_app.settings import Settings
from ari_app.speech import LoopResult, SpeechLoop


async def _turn(loop: SpeechLoop, drv: Driver, turns: int) -> None:
    await drv.feed(voice(0.8))
    await drv.feed(silence(0.1))
    await drv.until(lambda: len(loop.turns) >= turns)


async def _start(loop: SpeechLoop) -> asyncio.Task[LoopResult]:
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0)
    return task


async def test_given_multilingual_stt_when_the_first_turn_is_spanish_then_the_loop_switches_to_the_spanish_voice(
    tmp_path: Path,
) -> None:
    stt = DetectingStt("Quisiera una habitación doble.", detected="es", probability=0.93)
    engines, en, es = two_language_engines(tmp_path, stt=stt)
    media, store = MemMedia(), StoreWithSessions()
    heard: list[str] = []
    loop = SpeechLoop(
        FakeSession(media, store), engines, echo_respond("Dijo"), detect_language=True, on_language=heard.append
    )
    drv = Driver(media)
    task = await _start(loop)

    await _turn(loop, drv, 1)
    await _turn(loop, drv, 2)
    await media.inbound.put(None)
    await asyncio.wait_for(task, 5)

    assert stt.languages[0] == "auto"  # the first turn is transcribed without a fixed language
    assert set(stt.languages[1:]) == {"es"}  # later turns (and their guesses) are pinned to Spanish
    assert loop.language == "es" and heard == ["es"]
    assert any("Dijo: Quisiera" in t for t in es.texts)
    assert not any("Dijo" in t for t in en.texts)  # even the first reply came in the Spanish voice
    assert ("speech.language_detected", 0.93, {"language": "es", "switched": True}) in store.metrics


@pytest.mark.parametrize(("detected", "probability"), [("es", 0.4), ("de", 0.99), ("en", 0.99)])
async def test_given_unsure_or_unvoiced_or_same_detection_when_the_first_turn_ends_then_the_call_stays_english(
    tmp_path: Path, detected: str, probability: float
) -> None:
    stt = DetectingStt("I would like a room.", detected=detected, probability=probability)
    engines, en, es = two_language_engines(tmp_path, stt=stt)
    media = MemMedia()
    heard: list[str] = []
    loop = SpeechLoop(
        FakeSession(media, StoreWithSessions()), engines, echo_respond(), detect_language=True, on_language=heard.append
    )
    drv = Driver(media)
    task = await _start(loop)
    await _turn(loop, drv, 1)
    await media.inbound.put(None)
    await asyncio.wait_for(task, 5)

    assert loop.language == "en" and heard == ["en"]
    assert any("You said" in t for t in en.texts) and not es.texts


async def test_given_an_english_only_stt_when_detection_is_asked_then_no_detection_runs(tmp_path: Path) -> None:
    stt = DetectingStt("Hola.", detected="es", multilingual=False)  # like the bundled tiny.en
    engines, en, es = two_language_engines(tmp_path, stt=stt)
    assert not engines.can_detect_language
    media = MemMedia()
    loop = SpeechLoop(FakeSession(media, StoreWithSessions()), engines, echo_respond(), detect_language=True)
    drv = Driver(media)
    task = await _start(loop)
    await _turn(loop, drv, 1)
    await media.inbound.put(None)
    await asyncio.wait_for(task, 5)
    assert "auto" not in stt.languages and loop.language == "en"


def test_given_detection_switched_off_or_one_voice_when_asked_then_engines_cannot_detect(tmp_path: Path) -> None:
    off, _, _ = two_language_engines(tmp_path / "off", stt=DetectingStt("x", "es"), detect_language=False)
    assert not off.can_detect_language
    single = make_engines(tmp_path / "one", stt=DetectingStt("x", "es"))
    assert not single.can_detect_language
    plain = make_engines(tmp_path / "plain", stt=FakeStt())
    assert not plain.can_detect_language


async def test_given_a_spanish_first_turn_in_the_agent_phase_then_the_brain_context_follows(tmp_path: Path) -> None:
    stt = DetectingStt("Quisiera una habitación.", detected="es")
    engines, en, es = two_language_engines(tmp_path, stt=stt)
    settings = Settings()
    brain = RecordingBrain(greeting="Hello, Harbour View Hotel.")
    media = MemMedia()
    session = FakeSession(media, StoreWithSessions(), info=CallInfo("sess-det", 1, "chan-1"), settings=settings)
    session.control = FakeControl()
    deps = ConversationDeps(settings=settings, brain=brain, menus=MenuStore.from_settings(settings), speech=engines)
    conversation = CallConversation(deps, session)
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await wait_until(lambda: "Hello, Harbour View Hotel." in en.texts)
    await drv.until(lambda: not media.is_playing)
    await drv.feed(voice(0.8))
    await drv.feed(silence(0.1))
    await drv.until(lambda: "De acuerdo." in es.texts)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 5)

    assert brain.languages == ["en", "es"]  # greeted in English, answered with a Spanish context
    assert conversation.language.code == "es" and conversation.language.source == "detected"
    assert conversation.ctx.language == "es"
