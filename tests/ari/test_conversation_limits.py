"""The conversation's side of the call limits and of re-adoption, on in-memory media whose frames
are the clock (20 ms each): silence gets "Are you still there?" then a goodbye and a hang-up named
``inactivity`` (issue 16 D4, issue 17 D9); a re-adopted call is not greeted again (issue 16 D11,
issue 18 L5)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "speech"))

from speechsupport import Driver, FakeSession, FakeStore, MemMedia, make_engines, voice  # noqa: E402

from ari_app.brain.context import CallContext  # noqa: E402
from ari_app.brain.events import BrainEvent, Say  # noqa: E402
from ari_app.conversation import RESUME_TEXT, CallConversation, ConversationDeps  # noqa: E402
from ari_app.ivr.config import MenuStore  # noqa: E402
from ari_app.session import CallInfo  # noqa: E402
from ari_app.settings import Settings  # noqa: E402

GREETING = "Thank you for calling Harbour View Hotel."


class FrameClock:
    """Time = frames delivered x 20 ms; ``sleep`` waits for frames, not for the wall clock."""

    def __init__(self, media: MemMedia) -> None:
        self.media = media

    def now(self) -> float:
        return float(self.media.tick_no) * 0.02

    async def sleep(self, seconds: float) -> None:
        target = self.now() + seconds
        while self.now() < target:  # noqa: ASYNC110 - the Driver advances the frames
            await asyncio.sleep(0)


class Brain:
    name = "embedded"

    def __init__(self) -> None:
        self.greeted = 0
        self.heard: list[str] = []

    async def greet(self, ctx: CallContext) -> AsyncIterator[BrainEvent]:
        self.greeted += 1
        yield Say(GREETING)

    async def respond(self, ctx: CallContext, text: str, mode: str = "speech") -> AsyncIterator[BrainEvent]:
        self.heard.append(text)
        yield Say("Certainly.")


@dataclass
class Control:
    hangups: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    media: MemMedia | None = None

    def note_end_reason(self, reason: str) -> None:
        self.reasons.append(reason)

    async def hangup(self, cause: str = "normal") -> None:
        self.hangups.append(cause)
        if self.media is not None:
            await self.media.inbound.put(None)  # the call ends: no more audio

    async def transfer(self, extension: str, context: str | None = None) -> None: ...

    async def start_hold_music(self, moh_class: str = "default") -> None: ...

    async def stop_hold_music(self) -> None: ...

    async def play_sound(self, media: str) -> None: ...

    async def set_variable(self, name: str, value: str) -> None: ...


class Store(FakeStore):  # type: ignore[misc,unused-ignore]
    sessions: Any = None  # the brain context is built from it; these tests never query it


class HistoryStore(Store):
    def __init__(self, earlier: list[tuple[str, str]]) -> None:
        super().__init__()
        self.earlier = earlier

    async def call_turns(self, call_id: int) -> list[Any]:
        return [SimpleNamespace(role=r, content=c, input_mode="speech") for r, c in self.earlier]


def _conversation(tmp_path: Path, store: Any, info: CallInfo, settings: Settings) -> tuple[Any, ...]:
    media = MemMedia()
    clock = FrameClock(media)
    control = Control(media=media)
    session = FakeSession(media, store, info=info, settings=settings, control=control)
    brain = Brain()
    deps = ConversationDeps(
        settings=settings,
        brain=cast(Any, brain),
        menus=MenuStore.from_settings(settings),
        speech=make_engines(tmp_path),
        limits_clock=clock.now,
        limits_sleep=clock.sleep,
    )
    return CallConversation(deps, session), media, control, brain


async def test_given_a_silent_caller_then_still_there_then_a_goodbye_and_the_call_ends_as_inactivity(
    tmp_path: Path,
) -> None:
    settings = Settings()
    settings.calls.inactivity_s = 2.0
    store = Store()
    conversation, media, control, _brain = _conversation(tmp_path, store, CallInfo("s1", 1, "c1"), settings)
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: bool(control.hangups), max_ticks=3000)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    agent = [t["content"] for t in store.rec.turns if t["role"] == "agent"]
    assert agent[0] == GREETING
    assert agent[1] == "Are you still there?"
    assert "Goodbye" in agent[2] and len(agent) == 3
    assert control.reasons == ["inactivity"] and control.hangups == ["normal"]
    assert conversation.limits.actions == ["still_there", "inactivity_end"]
    # each silence is counted from the end of what we said: 2 s = 100 frames, give or take a tick
    voiced = media.voiced_ticks()
    gaps = [b - a for a, b in zip(voiced, voiced[1:], strict=False) if b - a > 1]
    assert len(gaps) == 2 and all(100 <= g <= 100 + 20 for g in gaps), gaps


async def test_given_a_re_adopted_call_then_the_caller_is_not_greeted_again_and_history_is_kept(
    tmp_path: Path,
) -> None:
    settings = Settings()
    store = HistoryStore([("agent", GREETING), ("caller", "I'd like to book a room.")])
    info = CallInfo("s2", 2, "c2", adopted=True)
    conversation, media, control, brain = _conversation(tmp_path, store, info, settings)
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: bool(store.rec.turns), max_ticks=500)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    assert brain.greeted == 0
    assert store.rec.turns[0]["content"] == RESUME_TEXT
    assert [(t.role, t.text) for t in conversation.ctx.turns][:2] == [
        ("agent", GREETING),
        ("caller", "I'd like to book a room."),
    ]


class NumberingStore(Store):
    """Takes turn numbers like CallStore: reserved in order, written later."""

    def __init__(self) -> None:
        super().__init__()
        self.next = 1

    async def reserve_turn(self, call_id: int) -> int:
        number, self.next = self.next, self.next + 1
        return number

    async def add_turn(self, call_id: int, role: str, content: str, **kw: Any) -> int:
        if not content.strip():
            return 0
        number = kw.pop("turn_number", None) or await self.reserve_turn(call_id)
        self.rec.turns.append({"role": role, "content": content, "number": number, **kw})
        return number


async def test_given_the_caller_talks_over_the_greeting_then_it_is_stored_as_played_and_interrupted(
    tmp_path: Path,
) -> None:
    settings = Settings()
    store = NumberingStore()
    conversation, media, control, _brain = _conversation(tmp_path, store, CallInfo("s3", 3, "c3"), settings)
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: len(media.voiced_ticks()) >= 15)  # 1.5 of the greeting's 7 words
    await drv.feed(voice(1.2))  # "hello? I'd like a room" over it: barge-in
    # stored as soon as it was cut, in frames, not after a poll on the wall clock: the frames run
    # faster than real time here, so a poll could let the reply be stored first (issue 15)
    assert [t["number"] for t in store.rec.turns if t["role"] == "agent"] == [1]
    await drv.until(lambda: any(t["role"] == "agent" for t in store.rec.turns), max_ticks=500)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    greeting = next(t for t in store.rec.turns if t["role"] == "agent")
    assert greeting["number"] == 1 and greeting["interrupted"] is True
    words = greeting["content"].split()
    assert 1 <= len(words) < len(GREETING.split()) and GREETING.startswith(greeting["content"])


async def test_given_the_greeting_plays_to_its_end_then_it_is_stored_whole_and_not_interrupted(
    tmp_path: Path,
) -> None:
    store = NumberingStore()
    conversation, media, control, _brain = _conversation(tmp_path, store, CallInfo("s4", 4, "c4"), Settings())
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: bool(store.rec.turns), max_ticks=500)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    assert store.rec.turns[0] == {
        "role": "agent",
        "content": GREETING,
        "number": 1,
        "input_mode": "speech",
        "interrupted": False,
    }


class WithdrawingStore(NumberingStore):
    async def withdraw_last_caller_turn(self, call_id: int) -> int | None:
        for turn in reversed(self.rec.turns):
            if turn["role"] == "caller" and not turn.get("withdrawn"):
                turn["withdrawn"] = True
                return int(turn["number"])
        return None


class SlowBrain(Brain):
    """Thinks until released, so the caller can go on before the first answer is spoken."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def respond(self, ctx: CallContext, text: str, mode: str = "speech") -> AsyncIterator[BrainEvent]:
        self.heard.append(text)
        if len(self.heard) == 1:
            await self.release.wait()
        yield Say("Certainly.")


async def test_given_the_caller_goes_on_before_the_answer_then_the_first_caller_turn_is_withdrawn(
    tmp_path: Path,
) -> None:
    store = WithdrawingStore()
    conversation, media, control, _brain = _conversation(tmp_path, store, CallInfo("s5", 5, "c5"), Settings())
    brain = SlowBrain()
    conversation.deps.brain = brain
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: bool(store.rec.turns) and not media.is_playing, max_ticks=500)
    await drv.feed(voice(0.8))
    await drv.until(lambda: len(brain.heard) == 1, max_ticks=500)  # stored, the brain is thinking
    await drv.feed(voice(0.8))  # ...and the caller goes on
    await drv.until(lambda: len(brain.heard) == 2, max_ticks=500)
    brain.release.set()
    await drv.until(lambda: sum(t["role"] == "agent" for t in store.rec.turns) >= 2, max_ticks=1000)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    callers = [t for t in store.rec.turns if t["role"] == "caller"]
    assert [bool(t.get("withdrawn")) for t in callers] == [True, False]


async def test_given_a_call_the_hotel_placed_then_it_opens_with_the_request_not_the_inbound_greeting(
    tmp_path: Path, sqlite_sessions: Any
) -> None:
    from models.voice_api import OutboundCall

    async with sqlite_sessions.begin() as db:
        db.add(OutboundCall(request_id="r9", number="+15551230100", purpose="reminder", message="Check-in is from 3 pm."))
    store = Store()
    store.sessions = sqlite_sessions
    info = CallInfo("s9", 9, "c9", direction="outbound", stasis_args=("outbound", "r9"))
    conversation, media, _control, brain = _conversation(tmp_path, store, info, Settings())
    run = asyncio.create_task(conversation.run())
    drv = Driver(media)
    await drv.until(lambda: any(t["role"] == "agent" for t in store.rec.turns), max_ticks=1500)
    await media.inbound.put(None)
    await asyncio.wait_for(run, 20)  # generous: the frames are the clock here
    opening = next(t["content"] for t in store.rec.turns if t["role"] == "agent")
    assert brain.greeted == 0
    assert opening.startswith("Hello, this is Harbour View Hotel with a reminder. Check-in is from 3 pm.")
    assert conversation.ctx.turns[0].text == opening
