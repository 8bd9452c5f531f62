"""The ARI executor on an in-memory CallSession double: frames are ticked by the test, timers are
fired by hand, so every count below is deterministic (wall-clock latency is in bench/ivr.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ari_app.ivr import IvrEngine, MenuTree, State, parse_menu_data
from ari_app.ivr.executor import AriIvrExecutor
from ari_app.session import CallGone, CallInfo

FRAME = 160  # 20 ms at 8 kHz

MENU = {
    "entry": "main",
    "defaults": {
        "timeout": {"seconds": 10, "attempts": 3, "prompt": {"text": "no input"}},
        "invalid": {"attempts": 3, "prompt": {"text": "invalid"}, "destination": {"action": "hangup"}},
    },
    "menus": {
        "main": {
            "prompt": {"text": "main menu " * 10},
            "options": [
                {"digit": 1, "action": "menu", "menu": "reservations"},
                {"digit": 2, "action": "transfer", "department": "front desk"},
                {"digit": 3, "action": "agent"},
            ],
        },
        "reservations": {"prompt": {"text": "reservations"}, "options": [{"digit": 1, "action": "agent"}]},
    },
}


async def tone(text: str) -> npt.NDArray[np.int16]:
    """Synthetic renderer: one 20 ms frame of 440 Hz per character, so long texts are long prompts."""
    t = np.arange(len(text) * FRAME) / 8000
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


class FakeUtterance:
    def __init__(self, pcm: npt.NDArray[np.int16], label: str) -> None:
        self.frames_total = -(-len(pcm) // FRAME)
        self.frames_sent = 0
        self.label = label
        self._done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def cancel(self) -> None:
        if not self._done.done():
            self._done.set_result(False)

    async def wait(self) -> bool:
        return await asyncio.shield(self._done)

    def take(self) -> None:
        self.frames_sent += 1
        if self.frames_sent >= self.frames_total and not self._done.done():
            self._done.set_result(True)


@dataclass
class FakeMedia:
    queue: list[FakeUtterance] = field(default_factory=list)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (frame number, utterance label)
    frame_no: int = 0
    flushes: int = 0

    def play(self, pcm: npt.NDArray[np.int16]) -> FakeUtterance:
        utt = FakeUtterance(pcm, f"utt{len(self.sent)}-{len(pcm)}")
        self.queue.append(utt)
        return utt

    def play_ulaw(self, payload: bytes) -> FakeUtterance:
        raise NotImplementedError

    def flush(self) -> int:
        self.flushes += 1
        dropped = 0
        for u in self.queue:
            dropped += u.frames_total - u.frames_sent
            u.cancel()
        self.queue.clear()
        return dropped

    @property
    def is_playing(self) -> bool:
        return any(not u._done.done() for u in self.queue)

    def tick(self) -> None:
        """One 20 ms frame leaves (like the paced sender): the head utterance or silence."""
        self.frame_no += 1
        while self.queue and self.queue[0]._done.done():
            self.queue.pop(0)
        if self.queue:
            self.queue[0].take()
            self.sent.append((self.frame_no, self.queue[0].label))

    async def read_frame(self) -> npt.NDArray[np.int16]:
        raise NotImplementedError


@dataclass
class FakeControl:
    transfers: list[tuple[str, str | None]] = field(default_factory=list)
    variables: list[tuple[str, str]] = field(default_factory=list)
    hangups: int = 0
    gone: bool = False

    async def transfer(self, extension: str, context: str | None = None) -> None:
        if self.gone:
            raise CallGone("caller left")
        self.transfers.append((extension, context))

    async def set_variable(self, name: str, value: str) -> None:
        if self.gone:
            raise CallGone("caller left")
        self.variables.append((name, value))

    async def hangup(self, cause: str = "normal") -> None:
        self.hangups += 1

    async def start_hold_music(self, moh_class: str = "default") -> None: ...
    async def stop_hold_music(self) -> None: ...
    async def play_sound(self, media: str) -> None: ...


@dataclass
class FakeSession:
    info: CallInfo = field(default_factory=lambda: CallInfo(session_id="s-1", call_row_id=1, channel_id="ch-1"))
    media: FakeMedia = field(default_factory=FakeMedia)
    control: FakeControl = field(default_factory=FakeControl)
    dtmf: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    store: Any = None
    settings: Any = None


class ManualTimers:
    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], None], list[bool]]] = []

    def __call__(self, seconds: float, cb: Callable[[], None]) -> Any:
        cancelled = [False]
        self.armed.append((seconds, cb, cancelled))

        class Handle:
            def cancel(self) -> None:
                cancelled[0] = True

        return Handle()

    def live(self) -> list[tuple[float, Callable[[], None], list[bool]]]:
        return [t for t in self.armed if not t[2][0]]

    def fire(self) -> float:
        (seconds, cb, cancelled), *_ = self.live()
        cancelled[0] = True
        cb()
        return seconds


async def settle(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.fixture
def ivr_tree() -> MenuTree:
    return parse_menu_data(MENU, departments={"front desk": "100"}, transfer_context="from-internal")


@pytest.fixture
def call(ivr_tree: MenuTree) -> tuple[FakeSession, ManualTimers, AriIvrExecutor]:
    session = FakeSession()
    timers = ManualTimers()
    executor = AriIvrExecutor(session, IvrEngine(ivr_tree), tone, timers=timers)  # type: ignore[arg-type]
    return session, timers, executor


async def play_out(session: FakeSession, timers: ManualTimers, max_frames: int = 10_000) -> int:
    """Tick frames until the executor waits on a timer; return the frames sent."""
    for n in range(max_frames):
        await settle()
        if timers.live() and not session.media.is_playing:
            return n
        session.media.tick()
    raise AssertionError("no timer armed")


async def test_given_menu_when_caller_presses_2_then_transfer_to_front_desk_extension_requested(call: Any) -> None:
    session, timers, executor = call
    task = asyncio.create_task(executor.run())
    await play_out(session, timers)
    session.dtmf.put_nowait("2")
    outcome = await asyncio.wait_for(task, 5)
    assert session.control.transfers == [("100", "from-internal")]
    assert outcome.kind == "transfer" and outcome.department == "front desk"
    assert ("HOTEL_IVR_CHOICE", "2") in session.control.variables


async def test_given_menu_when_caller_presses_9_three_times_then_final_invalid_destination(call: Any) -> None:
    session, timers, executor = call
    task = asyncio.create_task(executor.run())
    for _ in range(3):
        await play_out(session, timers)
        session.dtmf.put_nowait("9")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.kind == "hangup" and outcome.reason == "invalid"
    assert session.control.hangups == 1
    assert session.control.transfers == []
    assert ("HOTEL_IVR_EXIT", "invalid") in session.control.variables


async def test_given_menu_when_caller_presses_nothing_then_three_timeouts_then_operator(call: Any) -> None:
    session, timers, executor = call
    task = asyncio.create_task(executor.run())
    fired = []
    for _ in range(3):
        await play_out(session, timers)
        fired.append(timers.fire())
    outcome = await asyncio.wait_for(task, 5)
    assert fired == [10.0, 10.0, 10.0]
    assert outcome.kind == "transfer" and outcome.reason == "timeout"
    assert session.control.transfers == [("100", "from-internal")]


async def test_given_prompt_playing_when_caller_presses_1_then_prompt_stops_within_3_frames(call: Any) -> None:
    session, timers, executor = call
    task = asyncio.create_task(executor.run())
    await settle()
    for _ in range(10):  # 200 ms into the 100-frame main prompt
        session.media.tick()
        await asyncio.sleep(0)
    main_label = session.media.sent[-1][1]
    digit_frame = session.media.frame_no
    session.dtmf.put_nowait("1")
    for _ in range(10):  # the sender keeps ticking, one loop turn per frame
        session.media.tick()
        await asyncio.sleep(0)
    after = [n for n, label in session.media.sent if label == main_label and n > digit_frame]
    assert len(after) <= 3, f"{len(after)} frames of the cut prompt after the key"
    assert session.media.flushes >= 1
    assert executor.frames_cut > 0
    assert executor.engine.menu.id == "reservations"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_given_caller_chose_agent_when_key_pressed_later_then_agent_speech_flushed_and_key_acts(
    call: Any,
) -> None:
    session, timers, executor = call
    task = asyncio.create_task(executor.run())
    await play_out(session, timers)
    session.dtmf.put_nowait("3")
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.kind == "agent" and executor.engine.state is State.AGENT
    agent_speech = session.media.play(await tone("agent talking"))
    executor.digit("2")
    assert await agent_speech.wait() is False  # cut at once, before any await
    outcome = await asyncio.wait_for(executor.run(), 5)
    assert outcome.kind == "transfer"
    assert session.control.transfers == [("100", "from-internal")]


async def test_given_caller_hangs_up_when_transfer_attempted_then_outcome_caller_hangup(call: Any) -> None:
    session, timers, executor = call
    session.control.gone = True
    task = asyncio.create_task(executor.run())
    outcome = await asyncio.wait_for(task, 5)  # the first SET VARIABLE already finds the caller gone
    assert outcome.kind == "caller_hangup"
    assert timers.live() == []


async def test_given_renderer_fails_when_prompt_due_then_call_goes_on_to_the_timer(ivr_tree: MenuTree) -> None:
    async def broken(_text: str) -> npt.NDArray[np.int16]:
        raise RuntimeError("tts down")

    session = FakeSession()
    timers = ManualTimers()
    executor = AriIvrExecutor(session, IvrEngine(ivr_tree), broken, timers=timers)  # type: ignore[arg-type]
    task = asyncio.create_task(executor.run())
    await play_out(session, timers)
    assert executor.engine.state is State.WAITING
    session.dtmf.put_nowait("2")
    assert (await asyncio.wait_for(task, 5)).kind == "transfer"
