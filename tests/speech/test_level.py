"""Outbound speech level: about -18 dBFS RMS speech, peaks limited, no clipping, the same for the
greeting, cached phrases and live replies (issue 12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from speechsupport import FakeSession, FakeStore, FakeStt, silence, voice
from test_barge_in_udp import Caller

from ari_app.media import MediaClock, PortAllocator, RtpEndpoint
from ari_app.media.g711 import ulaw_decode
from ari_app.settings import SpeechSettings
from ari_app.speech import SpeechEngines, SpeechLoop
from ari_app.speech.level import active_rms_dbfs, level_speech


@pytest.mark.parametrize("peak", [0.05, 0.3, 1.0])
def test_given_speech_at_any_level_when_levelled_then_rms_is_minus_18_and_peaks_stay_under_the_ceiling(
    peak: float,
) -> None:
    x = voice(2.0, level=peak).astype(np.float64) / 32768.0
    x = np.concatenate([np.zeros(4000), x, np.zeros(4000)])  # pauses must not pull the level down
    out = level_speech(x)
    assert abs(active_rms_dbfs(out) - (-18.0)) <= 0.5
    assert int(np.max(np.abs(out.astype(np.int32)))) <= int(32767 * 10 ** (-1 / 20)) + 1  # -1 dBFS ceiling
    assert np.all(out[:3000] == 0)  # silence stays silence


def test_given_a_spiky_signal_when_levelled_then_peaks_are_limited_not_clipped() -> None:
    x = voice(1.0, level=0.1).astype(np.float64) / 32768.0
    x[4000:4010] = 0.9  # a click 19 dB over the speech peaks
    out = level_speech(x)
    ceiling = 32767 * 10 ** (-1 / 20)
    assert np.max(np.abs(out.astype(np.int32))) <= ceiling + 1
    # the limiter lowers the gain around the click only: a second away the speech is untouched
    assert abs(active_rms_dbfs(out[6000:]) - active_rms_dbfs(out[:2000])) < 1.5


class RecordingCaller(Caller):
    """Keeps every packet of ours, decoded, with the tick it arrived in."""

    def __init__(self, ours: RtpEndpoint, theirs: RtpEndpoint, clock: MediaClock) -> None:
        super().__init__(ours, theirs, clock)
        self.heard: list[tuple[int, np.ndarray]] = []

    async def tick(self) -> None:
        before = self.ours.stats.packets_in
        sent_before = self.theirs.stats.packets_in
        self.clock.tick()
        for _ in range(400):
            await asyncio.sleep(0)
            if self.ours.stats.packets_in > before and self.theirs.stats.packets_in > sent_before:
                break
        for _ in range(30):
            await asyncio.sleep(0)
        while (payload := self.theirs.read_payload_nowait()) is not None:
            self.heard.append((self.clock.tick_index, ulaw_decode(payload)))
            if any(b not in (0xFF, 0x7F) for b in payload):
                self.voiced_at.append(self.clock.tick_index)


@pytest.mark.slow
async def test_given_the_bundled_voice_when_greeting_and_reply_go_out_in_rtp_then_speech_is_at_telephony_level(
    tmp_path: Path,
) -> None:
    settings = SpeechSettings(prompt_cache_dir=str(tmp_path / "prompts"))
    engines = SpeechEngines.load(settings, hotel_name="Harbour View Hotel", stt=FakeStt("Is breakfast included?"))
    try:
        await engines.warm()  # the fixed prompts, rendered once and played from the cache

        async def reply(text: str) -> AsyncIterator[str]:
            yield "Yes. "
            yield "Breakfast is served from seven until ten every morning in the garden restaurant."

        clock = MediaClock(manual=True)
        alloc = PortAllocator("127.0.0.1", 42200, 42300)
        async with RtpEndpoint(alloc, clock=clock, jitter_depth=1) as ours, RtpEndpoint(
            alloc, clock=clock, jitter_depth=1
        ) as theirs:
            ours.set_remote("127.0.0.1", theirs.local_port)
            theirs.set_remote("127.0.0.1", ours.local_port)
            caller = RecordingCaller(ours, theirs, clock)
            loop = SpeechLoop(FakeSession(ours, FakeStore()), engines, reply)
            task = asyncio.create_task(loop.run("Thank you for calling the Harbour View Hotel."))
            await caller.wait(lambda: len(caller.voiced_at) > 0)
            await caller.wait(lambda: not ours.is_playing)
            greeting_end = clock.tick_index
            await caller.say(np.concatenate([voice(1.0), silence(0.1)]))
            await caller.wait(lambda: len(loop.turns) == 1 and not ours.is_playing)
            loop.stop()
            await asyncio.wait_for(task, 5)
        greeting = np.concatenate([pcm for t, pcm in caller.heard if t <= greeting_end])
        answer = np.concatenate([pcm for t, pcm in caller.heard if t > greeting_end])
        levels = {"greeting": active_rms_dbfs(greeting), "reply": active_rms_dbfs(answer)}
        print(f"\noutbound speech RMS as sent in RTP: {levels}")
        for name, db in levels.items():
            assert -19.5 <= db <= -16.5, (name, db)
        assert abs(levels["greeting"] - levels["reply"]) <= 1.5  # prompts and replies alike
        for pcm in (greeting, answer):
            assert np.max(np.abs(pcm.astype(np.int32))) < 32124  # μ-law full scale: nothing clipped
    finally:
        engines.pool.close()
