"""Turn-taking from what was said as well as from silence (issue 12; issues 16 D10 and 17 D10).

All loop tests are deterministic: caller audio goes in one 20 ms frame per tick, the fake STT answers
a scripted text, and every timing is a count of frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
    voice,
)
from speechsupport import silence as sil

from ari_app.speech import LoopResult, SpeechEngines, SpeechLoop
from ari_app.speech.commit import CommitGate, GatedRegistry, commits
from ari_app.speech.turnend import asks_yes_no, judge


async def setup(tmp_path: Path, stt: FakeStt | None = None, **kw: Any) -> tuple[SpeechEngines, MemMedia, FakeStore, Driver]:
    engines = make_engines(tmp_path, stt=stt, tts=FakeTts(), **kw)
    await engines.warm()
    media = MemMedia()
    return engines, media, FakeStore(), Driver(media)


async def start(loop: SpeechLoop, greeting: str | None = None) -> asyncio.Task[LoopResult]:
    task = asyncio.create_task(loop.run(greeting))
    await asyncio.sleep(0)
    return task


async def finish(media: MemMedia, task: asyncio.Task[LoopResult]) -> LoopResult:
    await media.inbound.put(None)
    return await asyncio.wait_for(task, 5)


# ---- the rule on text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "yes_no", "verdict"),
    [
        ("I'd like to book a double room for two guests.", False, "finished"),
        ("What time is check-out?", False, "finished"),
        ("We arrive on March fifth.", False, "finished"),
        ("My number is five five five, zero one four two, seven seven.", False, "finished"),
        ("Yes.", True, "finished"),  # a yes/no after "Shall I book it?"
        ("Yes, please.", True, "finished"),
        ("No, thanks.", True, "finished"),
        ("Great!", True, "unsure"),  # an acknowledgement, often "Great! And could I also…" (issue 12)
        ("Okay.", True, "unsure"),
        ("Sounds good.", True, "unsure"),
        ("Perfect, thank you.", True, "finished"),
        ("Thank you!", False, "finished"),
        ("I'd like a room for", False, "open"),
        ("I'd like a room for.", False, "open"),  # Whisper's full stop after "for" is no end
        ("We arrive on the", False, "open"),
        ("My name is.", False, "open"),
        ("We arrive on March.", False, "open"),  # the day is still to come
        ("How much is a single room in October?", False, "finished"),  # a month, but no day is missing
        ("We arrive on the sixth of March.", False, "finished"),
        ("My number is five five five.", False, "open"),  # half a phone number
        ("Great.", False, "open"),  # a preamble: "Great. I'd like to book…" (issue 17 D10)
        ("Okay, so", False, "open"),
        ("Yes.", False, "open"),  # not after a yes/no question: wait for the rest
        ("Um...", False, "open"),
        (".", False, "open"),
        ("I need a double room", False, "unsure"),  # no closing punctuation: the normal hangover
        ("I need a twin room.", False, "unsure"),  # a bare booking request: details usually follow
        ("I'd like a room.", False, "unsure"),
        ("I need a twin room for three nights.", False, "finished"),
        ("I'd like to book a room, please.", False, "finished"),
        ("I'd like room 4.", False, "unsure"),  # Whisper's "4" for an unfinished "for" (bench/latency.py)
        ("A table for 2.", False, "unsure"),  # "… for to…"/"… for two" cannot be told apart: the normal hangover
        ("We are 4 adults and 2.", False, "unsure"),
        ("We arrive on the 24.", False, "finished"),  # part of a number, not a lone "for"
        ("Room 12, please.", False, "finished"),
    ],
)
def test_given_a_speculative_transcript_when_judged_then_the_verdict_follows_what_was_said(
    text: str, yes_no: bool, verdict: str
) -> None:
    assert judge(text, expecting_yes_no=yes_no) == verdict


@pytest.mark.parametrize(
    ("said", "expect"),
    [
        ("A double room for two nights is $240. Shall I book it?", True),
        ("Is that correct?", True),
        ("Would you like me to send a payment link?", True),
        ("How can I help you?", False),
        ("Which dates would you like?", False),
        ("Your room is booked.", False),
    ],
)
def test_given_our_last_sentence_when_checked_then_a_yes_no_question_is_recognised(said: str, expect: bool) -> None:
    assert asks_yes_no(said) is expect


# ---- the rule in the loop -------------------------------------------------------------------------


async def test_given_an_open_ended_guess_when_the_caller_pauses_past_the_old_hangover_then_the_loop_keeps_listening(
    tmp_path: Path,
) -> None:
    stt = FakeStt("I'd like a room for")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    # 800 ms of silence: past the old fixed 600 ms hangover, inside the 1000 ms one for open turns
    await drv.feed(np.concatenate([voice(1.0), sil(0.8)]))
    assert loop._turn is None and media.voiced_ticks() == []  # no turn ended, nothing said
    stt.text = "I'd like a room for two adults."
    await drv.feed(np.concatenate([voice(0.8, seed=5), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert [t.caller_text for t in result.turns] == ["I'd like a room for two adults."]
    assert loop.continuations == []  # never cut, so nothing to withdraw
    assert stt.calls[-1] >= int(1.8 * 8000) - 1600  # the one turn carries both halves


async def test_given_an_open_ended_guess_when_the_caller_stays_silent_then_the_turn_ends_at_the_long_hangover(
    tmp_path: Path,
) -> None:
    engines, media, store, drv = await setup(tmp_path, stt=FakeStt("We arrive on the"))
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    t = loop.turns[0].timings
    assert t["endpoint_ms"] == engines.settings.vad_open_end_ms == 1000 and t["verdict_open"] == 1.0


async def test_given_a_finished_guess_when_the_caller_pauses_then_the_turn_ends_at_the_short_hangover(
    tmp_path: Path,
) -> None:
    engines, media, store, drv = await setup(tmp_path, stt=FakeStt("Do you have parking for guests?"))
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), sil(0.1)]))
    await drv.until(lambda: bool(media.voiced_ticks()))
    first_voiced = media.voiced_ticks()[0]
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    # the voice ends by frame 50: the reply starts before the fixed 600 ms hangover (30 frames) could end it
    assert first_voiced < 50 + 30
    assert loop.turns[0].timings["endpoint_ms"] == 300.0 and loop.turns[0].timings["verdict_finished"] == 1.0


async def test_given_a_yes_after_our_yes_no_question_when_the_caller_pauses_then_the_turn_ends_early(
    tmp_path: Path,
) -> None:
    engines, media, store, drv = await setup(tmp_path, stt=FakeStt("Yes."))
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    task = await start(loop, greeting="Shall I book it?")
    await drv.until(lambda: bool(media.voiced_ticks()) and not media.is_playing)
    await drv.feed(np.concatenate([sil(0.3), voice(0.5), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    assert loop.turns[0].timings["endpoint_ms"] == 300.0


async def test_given_great_then_the_request_after_a_580ms_pause_when_heard_then_one_turn_is_answered(
    tmp_path: Path,
) -> None:
    """Issue 17 D10: "Great." (580 ms pause) "I'd like to book…" was cut after "Great."."""
    stt = FakeStt("Great.")
    heard: list[str] = []

    async def respond(text: str) -> AsyncIterator[str]:
        heard.append(text)
        yield "Certainly."

    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, respond)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(0.4), sil(0.58)]))
    assert media.voiced_ticks() == []
    stt.text = "Great. I'd like to book a room for Friday."
    await drv.feed(np.concatenate([voice(1.5, seed=8), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    await finish(media, task)
    assert heard == ["Great. I'd like to book a room for Friday."]  # the brain never saw "Great." alone
    assert loop.continuations == []


async def test_given_an_early_end_when_the_caller_goes_on_before_the_reply_then_one_merged_turn_and_nothing_partial_heard(
    tmp_path: Path,
) -> None:
    stt = FakeStt("I need a room tonight.")
    first_reply_may_go = asyncio.Event()
    answered: list[str] = []
    closed: list[str] = []

    async def respond(text: str) -> AsyncIterator[str]:
        try:
            if not answered:
                answered.append(text)
                await first_reply_may_go.wait()  # a brain still thinking when the caller goes on
            else:
                answered.append(text)
            yield f"Reply to: {text}"
        finally:
            closed.append(text)

    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, respond)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), sil(0.4)]))  # early end at 300 ms, 100 ms before the caller goes on
    assert answered == ["I need a room tonight."]  # the reply to the guess was started
    stt.text = "I need a room tonight for two adults."
    resume_tick = media.tick_no
    await drv.feed(np.concatenate([voice(1.0, seed=6), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert len(loop.continuations) == 1
    assert closed[0] == "I need a room tonight."  # the partial reply was cancelled before it said anything
    assert [t.caller_text for t in result.turns] == ["I need a room tonight for two adults."]
    assert result.turns[0].reply_text == "Reply to: I need a room tonight for two adults."
    assert result.turns[0].timings.get("stt_speculative") == 1.0  # the merged turn was guessed on all its audio
    assert all(t > resume_tick for t in media.voiced_ticks())  # nothing was on the line before the merge


async def test_given_an_early_ended_turn_when_its_reply_books_then_the_booking_waits_until_the_turn_is_settled(
    tmp_path: Path,
) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.runs: list[tuple[str, int]] = []

        async def run(self, ctx: Any, name: str, arguments: dict[str, Any]) -> str:
            self.runs.append((name, media.tick_no))
            return "ok"

    stt = FakeStt("Yes, book it.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    gate = CommitGate()
    inner = Recorder()
    registry = GatedRegistry(inner, gate)

    async def respond(text: str) -> AsyncIterator[str]:
        await registry.run(None, "check_availability", {})  # reading may run on the guess
        await registry.run(None, "create_reservation", {})
        yield "Booked."

    loop = SpeechLoop(FakeSession(media, store), engines, respond, commit_gate=gate)
    task = await start(loop)
    await drv.feed(np.concatenate([voice(1.0), sil(0.1)]))  # speech ends at frame 50
    await drv.until(lambda: len(loop.turns) == 1)
    await finish(media, task)
    assert loop.turns[0].timings["early_end"] == 1.0
    (read, read_tick), (book, book_tick) = inner.runs
    assert (read, book) == ("check_availability", "create_reservation")
    # read at the early end (300 ms), booked only once the full 600 ms hangover passed in silence
    assert book_tick - read_tick == 30 - 15 and gate.waits == 1


async def test_given_an_early_ended_booking_turn_when_the_caller_goes_on_then_the_booking_never_runs(
    tmp_path: Path,
) -> None:
    runs: list[str] = []

    class Inner:
        async def run(self, ctx: Any, name: str, arguments: dict[str, Any]) -> str:
            runs.append(name)
            return "ok"

    stt = FakeStt("Yes.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    gate = CommitGate()
    registry = GatedRegistry(Inner(), gate)

    async def respond(text: str) -> AsyncIterator[str]:
        if text == "Yes.":
            await registry.run(None, "create_reservation", {})
            yield "Booked."
        else:
            yield "Of course, two rooms then. Shall I book them?"

    loop = SpeechLoop(FakeSession(media, store), engines, respond, commit_gate=gate)
    task = await start(loop, greeting="Shall I book it?")
    await drv.until(lambda: bool(media.voiced_ticks()) and not media.is_playing)
    await drv.feed(np.concatenate([sil(0.2), voice(0.5), sil(0.45)]))  # "Yes." ... (early end at 300 ms)
    stt.text = "Yes, but make it two rooms."
    await drv.feed(np.concatenate([voice(1.0, seed=3), sil(0.1)]))
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    await finish(media, task)
    assert len(loop.continuations) == 1 and runs == []
    assert [t.caller_text for t in loop.turns] == ["Yes, but make it two rooms."]


def test_given_tool_names_when_checked_then_only_changes_wait_for_a_settled_turn() -> None:
    assert not commits("check_availability", {}) and not commits("hotel_info", {"topic": "parking"})
    assert not commits("modify_reservation", {"preview": True})
    assert commits("modify_reservation", {"preview": False}) and commits("create_reservation", {})
    assert commits("cancel_reservation", {}) and commits("send_sms_confirmation", {})


# ---- issue 16 D10: a caller starting as our prompt ends ---------------------------------------------


async def test_given_a_caller_who_starts_as_a_long_prompt_ends_when_they_finish_then_their_turn_is_answered(
    tmp_path: Path,
) -> None:
    stt = FakeStt("The standard queen, please.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    prompt = "We have a standard queen, a deluxe king and a family suite with a sea view available."
    task = await start(loop, greeting=prompt)
    await drv.until(lambda: bool(media.voiced_ticks()))
    pcm = engines.cache.get_cached(engines.voice_for("en").voice_id, prompt)
    assert pcm is not None
    prompt_frames = -(-len(pcm) // 160)
    await drv.until(lambda: len(media.voiced_ticks()) >= prompt_frames - 4)  # 80 ms before the prompt ends
    await drv.feed(np.concatenate([voice(1.2, seed=12, f0=140), sil(0.1)]))
    assert loop.barge_ins == []  # it was not a barge-in: our prompt ended on its own
    await drv.until(lambda: len(loop.turns) == 1 and not media.is_playing)
    result = await finish(media, task)
    assert [t.caller_text for t in result.turns] == ["The standard queen, please."]


async def test_given_a_short_mm_hm_over_our_prompt_when_it_ends_then_it_is_still_a_backchannel(
    tmp_path: Path,
) -> None:
    stt = FakeStt("Mm-hm.")
    engines, media, store, drv = await setup(tmp_path, stt=stt)
    loop = SpeechLoop(FakeSession(media, store), engines, echo_respond())
    prompt = "We have a standard queen, a deluxe king and a family suite with a sea view available."
    task = await start(loop, greeting=prompt)
    await drv.until(lambda: len(media.voiced_ticks()) >= 30)
    await drv.feed(np.concatenate([voice(0.18, seed=13), sil(1.0)]))  # under barge_in_ms, well inside the prompt
    await drv.until(lambda: not media.is_playing)
    await drv.feed(sil(1.0))
    result = await finish(media, task)
    assert result.turns == () and stt.calls == []
