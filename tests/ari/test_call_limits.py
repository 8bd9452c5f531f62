"""Call limits (issue 15) and silence (issue 16 D4, issue 17 D9) on a clock the test controls, and
a caller who vanishes without a BYE, through the stand-in."""

from __future__ import annotations

import asyncio

from arikit import eventually, running_manager

from ari_app.calls.limits import CallLimits, LimitAction, LimitConfig, LimitsWatcher
from ari_app.session import CallSession
from ari_app.settings import Settings
from ari_app.standin import AsteriskStandin
from models.calls import CallStatus
from models.store import CallStore

CFG = LimitConfig(max_duration_s=100.0, duration_warning_s=10.0, inactivity_s=8.0, inactivity_prompts=1)


def test_given_silence_then_one_still_there_prompt_then_the_goodbye() -> None:
    limits = CallLimits(CFG, started_at=0.0)
    assert limits.due(7.9) == []
    assert limits.due(8.0) == ["still_there"]
    limits.prompted(9.5)  # the prompt took 1.5 s to play
    assert limits.due(17.4) == []
    assert limits.due(17.5) == ["inactivity_end"]
    assert limits.due(50.0) == [] and limits.ended


def test_given_the_caller_answers_the_prompt_then_the_silence_count_starts_over() -> None:
    limits = CallLimits(CFG, started_at=0.0)
    assert limits.due(8.0) == ["still_there"]
    limits.activity(9.0)  # "yes, I'm here"
    assert limits.due(16.9) == []
    assert limits.due(17.0) == ["still_there"]  # a fresh silence gets its own prompt


def test_given_a_long_call_then_a_warning_before_the_limit_and_the_goodbye_at_it() -> None:
    limits = CallLimits(CFG, started_at=0.0)
    for t in range(0, 90, 5):
        limits.activity(float(t))
        assert limits.due(float(t)) == []
    limits.activity(90.0)
    assert limits.due(90.0) == ["duration_warning"]
    limits.activity(99.0)
    assert limits.due(99.9) == []
    assert limits.due(100.0) == ["duration_end"]
    assert limits.ended


async def test_given_a_watcher_on_a_test_clock_then_it_prompts_says_goodbye_and_names_the_reason() -> None:
    now = [0.0]
    said: list[LimitAction] = []
    ended: list[str] = []
    talking = [False]

    async def say(action: LimitAction) -> None:
        said.append(action)

    async def end(reason: str) -> None:
        ended.append(reason)

    async def tick(seconds: float) -> None:
        now[0] += seconds

    watcher = LimitsWatcher(
        CFG, is_idle=lambda: not talking[0], say=say, end=end, clock=lambda: now[0], sleep=tick, tick_s=0.5
    )
    talking[0] = True  # the greeting plays for 3 s: not silence
    for _ in range(6):
        await watcher.step()
        await tick(0.5)
    talking[0] = False
    await watcher.run()
    assert said == ["still_there", "inactivity_end"] and ended == ["inactivity"]
    assert 3.0 + 8.0 <= now[0] <= 3.0 + 8.0 + 8.0 + 1.0


async def test_given_a_caller_that_vanishes_without_a_bye_then_the_call_ends_with_media_timeout(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    settings.calls.media_timeout_s = 0.4
    frames: dict[str, int] = {}

    async def listen(session: CallSession) -> None:
        frames[session.info.channel_id] = 0
        while True:
            await session.media.read_frame()
            frames[session.info.channel_id] += 1

    async with running_manager(settings, store, listen) as manager:
        cid = standin.place_call()
        await eventually(lambda: frames.get(cid, 0) >= 20)  # RTP flowed, then the phone dies
        call = manager.calls[cid]
        standin.vanish_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(call.row_id or 0)
    assert row is not None and (row.status, row.end_reason) == (CallStatus.ABANDONED, "media_timeout")
    assert standin.ended_channels[cid].gone  # we hung the dead SIP leg up
    assert not standin.bridges and not standin.live_channels()


async def test_given_a_caller_that_never_sends_audio_then_the_call_ends_with_media_timeout(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    settings.calls.media_timeout_s = 0.4

    async def wait(session: CallSession) -> None:
        await asyncio.Event().wait()

    async with running_manager(settings, store, wait) as manager:
        cid = standin.place_call()
        standin.vanish_caller(cid)  # before any RTP: the phone sends none at all
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(call.row_id or 0)
    assert row is not None and row.end_reason == "media_timeout"


async def test_given_a_playback_mutes_the_stream_then_the_media_watchdog_waits_for_it(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    settings.calls.media_timeout_s = 0.3
    standin.set_sound_duration("sound:hotel-info", 1.2)  # Asterisk sends no RTP to us meanwhile
    done = asyncio.Event()

    async def play(session: CallSession) -> None:
        await session.control.play_sound("sound:hotel-info")
        done.set()
        await asyncio.Event().wait()

    async with running_manager(settings, store, play) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(done.wait(), 5)
        assert not call.finished.is_set() and call.end_reason is None
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    assert call.end_reason == "caller_hangup"
