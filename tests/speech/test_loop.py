"""SpeechLoop over an in-memory MediaPort paced tick by tick (one caller frame in, one agent frame out).

Fake STT/TTS keep these tests fast and exact; the real models are exercised in test_models.py and
over real UDP in test_barge_in_udp.py. The VAD here is the real webrtcvad on a synthetic voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
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
    echo_respond,
    make_engines,
    noise,
    silence,
    voice,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.session import CallInfo
from ari_app.speech import LoopResult, SpeechEngines, SpeechLoop
from ari_app.speech.loop import reads_finished
from models.calls import ConversationTurn, VoiceAnalytics
from models.store import CallStore


async def start(loop: SpeechLoop, greeting: str | None = None) -> asyncio.Task[LoopResult]:
    task = asyncio.create_task(loop.run(greeting))
    await asyncio.sleep(0)
    return task


async def finish(media: MemMedia, task: asyncio.Task[LoopResult]) -> LoopResult:
    await media.inbound.put(None)  # hang up
    return await asyncio.wait_for(task, 5)


async def setup(tmp_path: Path, stt: FakeStt | None = None, tts: FakeTts | None = None, **kw: object
                ) -> tuple[SpeechEngines, MemMedia, FakeStore, Driver]:
    # the synthetic voice's syllable troughs read as 160-180 ms pauses to webrtcvad: these tests count
    # guesses at the pauses they feed, so they keep the trigger above the troughs
    kw.setdefault("vad_pause_ms", 200)
    engines = make_engines(tmp_path, stt=stt, tts=tts, **kw)
    await engines.warm()
    media = MemMedia()
    return engines, media, FakeStore(), Driver(media)


async def test_given_a_spoken_request_when_the_turn_ends_then_reply_is_played_and_turns_recorded(tmp_path: Path) -> None:
    stt = FakeStt("I need a double room")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([silence(0.3), voice(1.2), silence(0.1)]))
    await drv.until(lambda: bool(media.voiced_ticks()))
    first_voiced = media.voiced_ticks()[0]
    await drv.until(lambda: not media.is_playing and len(loop.turns) == 1)
    result = await finish(media, task)

    assert result.reason == "hangup"
    assert len(stt.calls) == 1  # the speculative transcript was used, not redone
    turn = result.turns[0]
    assert turn.caller_text == "I need a double room"
    assert turn.reply_text == "You said: I need a double room. Anything else?"
    assert not turn.interrupted and turn.spoken_text == turn.reply_text
    assert turn.timings["stt_speculative"] == 1.0 and turn.timings["endpoint_ms"] == 600.0
    # speech ended at frame 75 (0.3 s + 1.2 s); 600 ms hangover = 30 frames; first reply frame the tick after
    assert 75 + 30 <= first_voiced <= 75 + 30 + 3
    roles = [t["role"] for t in store.rec.turns]
    assert roles == ["caller", "agent"]
    agent = store.rec.turns[1]
    assert agent["latency_ms"] == turn.latency_ms and agent["latency_ms"] >= 600
    assert {"stt_ms", "brain_ms", "tts_first_audio_ms", "send_ms"} <= set(agent["timings"])
    assert any(name == "speech.turn_latency_ms" for name, _, _ in store.rec.metrics)


async def test_given_a_pause_when_the_caller_goes_on_then_speculative_transcript_is_discarded(tmp_path: Path) -> None:
    stt = FakeStt()
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    # a 300 ms pause: longer than the 200 ms speculative trigger, shorter than the 600 ms hangover
    await drv.feed(np.concatenate([voice(0.8), silence(0.3), voice(0.8, seed=3)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert len(result.turns) == 1
    assert len(stt.calls) == 2  # one guess during the pause (discarded), one for the whole turn
    assert stt.calls[1] > stt.calls[0] + 0.7 * 8000  # the used transcript covers both halves


async def test_given_agent_speaking_when_caller_talks_over_it_then_audio_stops_at_the_decision_frame(tmp_path: Path) -> None:
    async def long_reply(text: str) -> AsyncIterator[str]:
        yield "Our double rooms have a sea view and a balcony. "
        yield "Breakfast is served from seven until ten every morning. "
        yield "Parking is free for guests."

    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, long_reply)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: len(media.voiced_ticks()) >= 40)  # 800 ms into our reply
    barge_tick = media.tick_no
    await drv.feed(voice(1.0, seed=9, f0=150))
    assert len(loop.barge_ins) == 1
    decision_tick = media.flushes[0]
    # decision: 10 speech frames (barge_in_ms = 200) after the caller started
    assert decision_tick - barge_tick == 10
    after = [t for t in media.voiced_ticks() if t > decision_tick]
    assert after == []  # nothing of ours left after the decision (within 0 ms ≤ 40 ms)
    await drv.feed(silence(0.8))
    await drv.until(lambda: len(loop.turns) == 2 and not media.is_playing)
    result = await finish(media, task)
    cut = result.turns[0]
    assert cut.interrupted and cut.timings["cut_frame"] == loop.barge_ins[0]
    assert cut.spoken_text and cut.reply_text.startswith(cut.spoken_text.split(" balcony")[0])
    assert len(cut.spoken_text) < len(cut.reply_text)
    agent_rows = [t for t in store.rec.turns if t["role"] == "agent"]
    assert agent_rows[0]["interrupted"] and agent_rows[0]["content"] == cut.spoken_text


async def test_given_agent_speaking_when_a_100ms_click_arrives_then_reply_plays_to_the_end(tmp_path: Path) -> None:
    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: len(media.voiced_ticks()) >= 10)
    click = noise(0.1, -6, seed=11)
    await drv.feed(click)
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert loop.barge_ins == [] and media.flushes == []
    assert not result.turns[0].interrupted
    assert result.turns[0].spoken_text == result.turns[0].reply_text


async def test_given_speakerphone_echo_of_our_reply_when_it_reaches_vad_then_no_barge_in(tmp_path: Path) -> None:
    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: bool(media.voiced_ticks()))
    # from now on the caller side carries our own audio back, 3 frames late and 12 dB down
    while media.is_playing or len(loop.turns) < 1:
        back = media.sent_pcm[-3] if len(media.sent_pcm) >= 3 else np.zeros(160, np.int16)
        await drv.tick((back.astype(np.float64) * 0.25).astype(np.int16))
    result = await finish(media, task)
    assert loop.barge_ins == []
    assert loop.echo_ignored >= 1
    assert not result.turns[0].interrupted


async def test_given_only_line_noise_when_listening_then_nothing_is_transcribed(tmp_path: Path) -> None:
    stt = FakeStt()
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(noise(5.0, -52))
    result = await finish(media, task)
    assert stt.calls == [] and result.turns == ()


async def test_given_stt_raising_mid_call_when_turn_ends_then_apology_and_engine_error_and_next_call_works(
    tmp_path: Path,
) -> None:
    stt = FakeStt(fail=True)
    tts = FakeTts()
    engines, media, store, drv = await setup(tmp_path, stt=stt, tts=tts)
    apology = engines.prompt_text("apology", "en")
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: bool(media.voiced_ticks()))
    apology_pcm = engines.cached_prompt("apology", "en")
    assert apology_pcm is not None
    apology_frames = -(-len(apology_pcm) // 160)
    await drv.until(lambda: task.done(), max_ticks=apology_frames + 50)
    result = task.result()
    assert result.reason == "engine_error" and result.engine == "fake-stt" and "model crashed" in result.error
    assert len(media.voiced_ticks()) == apology_frames  # the whole apology, nothing else
    assert apology in tts.texts  # rendered at warm-up, not at failure time
    assert any(name == "speech.engine_error" for name, _, _ in store.rec.metrics)

    stt.fail = False  # the engine recovers: the next call is served by the same shared engines
    media2, store2 = MemMedia(), FakeStore()
    loop2 = SpeechLoop(FakeSession(media2, store2), engines, echo_respond())
    task2 = await start(loop2)
    drv2 = Driver(media2)
    await drv2.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv2.until(lambda: len(loop2.turns) == 1 and not media2.is_playing)
    result2 = await finish(media2, task2)
    assert result2.reason == "hangup" and result2.turns[0].reply_text.startswith("You said")


async def test_given_tts_raising_when_replying_then_apology_and_engine_error(tmp_path: Path) -> None:
    tts = FakeTts()
    engines, media, store, drv = await setup(tmp_path, tts=tts)
    tts.fail = True  # prompts were rendered before the voice broke
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: task.done())
    result = task.result()
    assert result.reason == "engine_error" and result.engine == "fake-tts"
    apology_pcm = engines.cached_prompt("apology", "en")
    assert apology_pcm is not None
    assert len(media.voiced_ticks()) == -(-len(apology_pcm) // 160)


async def test_given_brain_raising_when_replying_then_apology_and_engine_error(tmp_path: Path) -> None:
    async def broken(text: str) -> AsyncIterator[str]:
        raise RuntimeError("brain exploded")
        yield ""  # pragma: no cover

    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, broken)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: task.done())
    assert task.result().reason == "engine_error" and "brain exploded" in task.result().error


async def test_given_all_workers_busy_when_a_turn_ends_then_one_moment_plays_first(tmp_path: Path) -> None:
    tts = FakeTts()
    engines, media, store, drv = await setup(tmp_path, tts=tts, workers=1)
    moment = engines.cached_prompt("one_moment", "en")
    assert moment is not None
    release = threading.Event()
    blocker = asyncio.create_task(engines.pool.run(release.wait, 5.0))
    await asyncio.sleep(0.05)
    assert engines.pool.busy
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    try:
        await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
        await drv.until(lambda: bool(media.voiced_ticks()))
        # the first frames we send are the cached prompt, byte for byte
        first = media.sent_pcm[media.voiced_ticks()[0] - 1]
        np.testing.assert_array_equal(first, moment[:160])
    finally:
        release.set()
        await blocker
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    await finish(media, task)


async def test_given_greeting_when_caller_barges_in_then_greeting_is_flushed(tmp_path: Path) -> None:
    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop, greeting="Thank you for calling the Harbour View Hotel. How can I help you today?")
    await drv.until(lambda: len(media.voiced_ticks()) >= 20)
    await drv.feed(voice(0.5, seed=4, f0=160))
    assert len(loop.barge_ins) == 1
    assert [t for t in media.voiced_ticks() if t > media.flushes[0]] == []
    loop.stop()
    assert (await asyncio.wait_for(task, 5)).reason == "stopped"


@pytest.mark.parametrize("db", ["sqlite"])
async def test_given_a_real_call_store_when_a_turn_completes_then_turns_and_metrics_are_in_the_database(
    tmp_path: Path, sqlite_sessions: async_sessionmaker[AsyncSession], db: str
) -> None:
    store = CallStore(sqlite_sessions)
    call_id = await store.open_call(session_id="s-db", channel_id="c-db")
    engines, media, _, drv = await setup(tmp_path, stt=FakeStt("Two guests on March fifth"))
    session = FakeSession(media, store, info=CallInfo("s-db", call_id, "c-db"))
    loop = SpeechLoop(session, engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    await finish(media, task)
    async with sqlite_sessions() as db_session:
        rows = (await db_session.scalars(select(ConversationTurn).order_by(ConversationTurn.turn_number))).all()
        metrics = (await db_session.scalars(select(VoiceAnalytics))).all()
    assert [(r.role, r.content) for r in rows] == [
        ("caller", "Two guests on March fifth"),
        ("agent", "You said: Two guests on March fifth. Anything else?"),
    ]
    assert rows[1].latency_ms == loop.turns[0].latency_ms and rows[1].timings["endpoint_ms"] == 600
    assert {m.metric_name for m in metrics} >= {"speech.turn_latency_ms", "speech.stt_ms"}


async def test_given_a_brain_yielding_unspaced_sentences_when_stored_then_sentences_are_spaced(tmp_path: Path) -> None:
    async def sentences(text: str) -> AsyncIterator[str]:
        yield "There are four adults."
        yield "I have a family room."

    engines, media, store, drv = await setup(tmp_path)
    loop = SpeechLoop(FakeSession(media, store), engines, sentences)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert result.turns[0].reply_text == "There are four adults. I have a family room."
    assert store.rec.turns[-1]["content"] == "There are four adults. I have a family room."


@pytest.mark.parametrize(
    ("heard", "endpoint_ms", "early"),
    [
        ("I need a double room tonight.", 300.0, True),  # a finished sentence: end after vad_early_end_ms
        ("Is breakfast included?", 300.0, True),
        ("I need a double room for.", 1000.0, False),  # open: "for" waits the long hangover
        ("I need a double room", 600.0, False),  # no closing punctuation: wait the full hangover
    ],
)
async def test_given_a_speculative_transcript_when_it_reads_finished_then_the_turn_ends_early(
    tmp_path: Path, heard: str, endpoint_ms: float, early: bool
) -> None:
    stt = FakeStt(heard)
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    timings = loop.turns[0].timings
    assert timings["endpoint_ms"] == endpoint_ms and bool(timings.get("early_end")) is early
    assert len(stt.calls) == 1 and timings["stt_speculative"] == 1.0  # the guess was the transcript


@pytest.mark.parametrize(("heard", "finished"), [("Is breakfast included?", True), ("I need a room for.", False)])
async def test_given_a_guess_slower_than_the_hangover_when_the_caller_is_silent_then_the_turn_waits_for_its_verdict(
    tmp_path: Path, heard: str, finished: bool
) -> None:
    stt = FakeStt(heard)
    stt.gate = asyncio.Event()  # a loaded machine: the guess is still being computed
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), silence(0.8)]))  # well past the 600 ms hangover
    assert len(stt.calls) == 1 and loop.turns == [] and loop.endpointer.in_segment  # still listening
    stt.gate.set()
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    timings = loop.turns[0].timings
    # finished: the turn ends the moment the verdict is in (past the 0.8 s fed, before the 1 s cap);
    # open: it still gets the long hangover
    ended = timings["endpoint_ms"]
    assert (800 <= ended < 1000) if finished else ended == 1000.0
    assert timings["stt_speculative"] == 1.0
    assert len(stt.calls) == 1


async def test_given_a_short_comma_pause_when_listening_then_no_speculative_transcription(tmp_path: Path) -> None:
    stt = FakeStt()
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    # 120 ms (a comma) is under vad_pause_ms = 200: no guess is started for it
    await drv.feed(np.concatenate([voice(0.8), silence(0.12), voice(0.8, seed=3)]))
    assert stt.calls == []
    await drv.feed(silence(0.1))
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    assert len(stt.calls) == 1


@contextlib.asynccontextmanager
async def busy_pool(engines: SpeechEngines) -> AsyncIterator[None]:
    """Every inference worker held (these tests make a pool of one) until the block ends."""
    release = threading.Event()
    blocker = asyncio.create_task(engines.pool.run(release.wait, 5.0))
    await asyncio.sleep(0.05)
    try:
        yield
    finally:
        release.set()
        await blocker


async def test_given_every_worker_busy_when_the_caller_pauses_then_no_guess_is_queued(tmp_path: Path) -> None:
    stt = FakeStt()
    engines, media, store, drv = await setup(tmp_path, stt=stt, workers=1)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    async with busy_pool(engines):
        await drv.feed(np.concatenate([voice(1.0), silence(0.3)]))  # past the pause, before the hangover
        assert stt.calls == []  # nothing waited in the pool's queue
        await drv.until(lambda: len(stt.calls) == 1)  # still busy when the hangover ends the turn
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    assert len(stt.calls) == 1 and "stt_speculative" not in loop.turns[0].timings


async def test_given_a_worker_frees_during_the_pause_when_the_caller_is_still_silent_then_the_guess_runs_late(
    tmp_path: Path,
) -> None:
    stt = FakeStt("Is breakfast included?")
    engines, media, store, drv = await setup(tmp_path, stt=stt, workers=1)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    async with busy_pool(engines):
        await drv.feed(np.concatenate([voice(1.0), silence(0.3)]))  # past the pause, before the hangover
        assert stt.calls == []
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    timings = loop.turns[0].timings
    assert len(stt.calls) == 1 and timings["stt_speculative"] == 1.0  # the late guess was the transcript
    assert timings["early_end"] == 1.0 and timings["endpoint_ms"] < 600  # and it still ended the turn early


@pytest.mark.parametrize(
    ("text", "finished"),
    [
        ("I need a twin room tonight.", True),
        ("What time is check-out?", True),
        ("Thank you!", True),
        ("I would like to book a room for.", False),
        ("My name is.", False),
        ("Um...", False),
        ("We arrive on the", False),
        (".", False),
    ],
)
def test_given_a_transcript_when_checked_then_finished_only_without_an_open_ending(text: str, finished: bool) -> None:
    assert reads_finished(text) is finished


async def test_given_a_second_turn_in_the_call_when_the_caller_pauses_then_it_is_transcribed_speculatively(
    tmp_path: Path,
) -> None:
    stt = FakeStt("I need a double room tonight.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    for n in (1, 2):
        await drv.feed(np.concatenate([voice(1.0, seed=n), silence(0.1)]))
        await drv.until(lambda n=n: len(loop.turns) == n and not media.is_playing)  # type: ignore[misc]
    await finish(media, task)
    assert [t.timings.get("stt_speculative") for t in loop.turns] == [1.0, 1.0]
    assert [t.timings["endpoint_ms"] for t in loop.turns] == [300.0, 300.0]
    assert len(stt.calls) == 2


async def test_given_an_early_end_when_the_caller_goes_on_within_the_hangover_then_one_merged_turn_is_answered(
    tmp_path: Path,
) -> None:
    stt = FakeStt("Do you have a room?")  # a pause after a question reads as a finished turn
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    first = voice(0.6)
    await drv.feed(np.concatenate([first, silence(0.4)]))  # early end fires at 300 ms of silence
    assert stt.calls and stt.calls[0] < len(first) + 8000  # only "Hello," was transcribed so far
    stt.text = "Do you have a room? For two adults, I mean."
    await drv.feed(voice(1.2, seed=2))  # 400 ms after "Hello," the caller goes on
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert len(loop.continuations) == 1
    assert [t.caller_text for t in result.turns] == ["Do you have a room? For two adults, I mean."]
    # the answer to the whole utterance, heard from its real end; the early reply was withdrawn
    assert result.turns[0].reply_text.startswith("You said: Do you have a room? For two adults")
    assert stt.calls[-1] > len(first) + int(1.2 * 8000) - 1600  # the merged audio was transcribed


async def test_given_an_early_end_when_the_caller_speaks_again_after_the_hangover_then_it_is_a_new_turn(
    tmp_path: Path,
) -> None:
    stt = FakeStt("What time is check-out?")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(0.6), silence(1.0)]))  # well past the 600 ms hangover
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    stt.text = "I need a room tonight."
    await drv.feed(np.concatenate([voice(1.0, seed=3), silence(0.1)]))
    await drv.until(lambda: len(loop.turns) == 2 and not media.is_playing)
    result = await finish(media, task)
    assert loop.continuations == []
    assert [t.caller_text for t in result.turns] == ["What time is check-out?", "I need a room tonight."]


async def test_given_early_end_not_allowed_when_a_finished_sentence_pauses_then_the_full_hangover_is_waited(
    tmp_path: Path,
) -> None:
    stt = FakeStt("I need a room tonight.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    allowed: list[bool] = [False]
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond(), allow_early_end=lambda: allowed[0])
    task = await start(loop)
    await drv.feed(np.concatenate([voice(0.5), silence(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    assert loop.turns[0].timings["endpoint_ms"] == 600.0 and not loop.turns[0].timings.get("early_end")


async def test_given_an_early_turn_withdrawn_when_the_caller_goes_on_then_the_conversation_is_told_once(
    tmp_path: Path,
) -> None:
    stt = FakeStt("I need a room tonight.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    withdrawn: list[int] = []
    heard: list[str] = []

    async def respond(text: str) -> AsyncIterator[str]:
        heard.append(text)
        yield f"You said {text}"

    loop = SpeechLoop(
        FakeSession(media, store), engines, respond, on_withdraw=lambda: withdrawn.append(len(heard))
    )
    task = await start(loop)
    await drv.feed(np.concatenate([voice(0.5), silence(0.4)]))
    stt.text = "I need a room tonight, for two."
    await drv.feed(voice(0.8, seed=4))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    await finish(media, task)
    # the brain saw "I need a room tonight." (and was then told to forget it) before the whole answer
    assert withdrawn == [1] and heard == ["I need a room tonight.", "I need a room tonight, for two."]
    assert [t.caller_text for t in loop.turns] == ["I need a room tonight, for two."]
