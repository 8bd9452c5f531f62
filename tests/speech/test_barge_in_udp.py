"""Barge-in over real UDP: two media-plane RtpEndpoints on loopback (ours and the caller's), paced by
one manual MediaClock, so "within 40 ms" is counted in RTP packets, not measured on a wall clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from speechsupport import FakeSession, FakeStore, make_engines, silence, voice

from ari_app.media import MediaClock, PortAllocator, RtpEndpoint
from ari_app.speech import SpeechLoop

FRAME = 160


class Caller:
    """The far end: plays caller audio into our endpoint and counts our voiced packets per tick."""

    def __init__(self, ours: RtpEndpoint, theirs: RtpEndpoint, clock: MediaClock) -> None:
        self.ours, self.theirs, self.clock = ours, theirs, clock
        self.voiced_at: list[int] = []  # tick at which each non-silent packet of ours arrived

    async def tick(self) -> None:
        before = self.ours.stats.packets_in
        sent_before = self.theirs.stats.packets_in
        self.clock.tick()
        # let both UDP datagrams land and the speech loop react, before the next 20 ms tick
        for _ in range(400):
            await asyncio.sleep(0)
            if self.ours.stats.packets_in > before and self.theirs.stats.packets_in > sent_before:
                break
        for _ in range(30):
            await asyncio.sleep(0)
        while (payload := self.theirs.read_payload_nowait()) is not None:
            if any(b not in (0xFF, 0x7F) for b in payload):
                self.voiced_at.append(self.clock.tick_index)

    async def say(self, pcm: np.ndarray) -> None:
        utt = self.theirs.play(pcm)
        while not utt.done:
            await self.tick()

    async def wait(self, cond: object, max_ticks: int = 3000) -> None:
        for _ in range(max_ticks):
            if cond():  # type: ignore[operator]
                return
            await self.tick()
        raise AssertionError("condition not reached")


async def long_reply(text: str) -> AsyncIterator[str]:
    yield "Our double rooms have a sea view and a private balcony. "
    yield "Breakfast is served from seven until ten every morning in the garden restaurant."


async def test_given_reply_playing_over_udp_when_caller_speaks_then_no_packet_of_ours_after_the_decision_tick(
    tmp_path: Path,
) -> None:
    clock = MediaClock(manual=True)
    engines = make_engines(tmp_path)
    await engines.warm()
    alloc = PortAllocator("127.0.0.1", 42000, 42100)
    async with RtpEndpoint(alloc, clock=clock, jitter_depth=1) as ours, RtpEndpoint(
        alloc, clock=clock, jitter_depth=1
    ) as theirs:
        ours.set_remote("127.0.0.1", theirs.local_port)
        theirs.set_remote("127.0.0.1", ours.local_port)
        caller = Caller(ours, theirs, clock)
        loop = SpeechLoop(FakeSession(ours, FakeStore()), engines, long_reply)
        task = asyncio.create_task(loop.run())
        await caller.say(np.concatenate([voice(1.0), silence(0.1)]))
        await caller.wait(lambda: len(caller.voiced_at) >= 50)  # one second into our reply
        # a 100 ms click first: it must not stop us
        click = (np.random.default_rng(1).normal(0, 8000, 800)).astype(np.int16)
        await caller.say(click)
        await caller.say(silence(0.3))
        assert loop.barge_ins == []
        playing_after_click = len(caller.voiced_at)
        await caller.wait(lambda: len(caller.voiced_at) >= playing_after_click + 10)
        # now real speech over our reply
        flush_ticks: list[int] = []
        real_flush = ours.flush

        def spy_flush() -> int:
            flush_ticks.append(clock.tick_index)
            return real_flush()

        ours.flush = spy_flush  # type: ignore[method-assign]
        speech_from = clock.tick_index + 1
        await caller.say(voice(0.6, seed=5, f0=160))
        await caller.say(silence(0.2))
        assert len(loop.barge_ins) == 1 and len(flush_ticks) == 1
        decision = flush_ticks[0]
        # barge_in_ms = 200: the decision comes 10 caller frames (+ jitter-buffer/UDP hop) after onset
        assert 10 <= decision - speech_from + 1 <= 12
        late = [t for t in caller.voiced_at if t > decision]
        # ≤ 2 packets = 40 ms; in fact only the packet sent in the decision tick's send phase (before
        # the caller frame that triggered the decision was even read) can still be on the wire
        assert len(late) <= 1, late
        loop.stop()
        result = await asyncio.wait_for(task, 5)
        assert result.turns and result.turns[0].interrupted
