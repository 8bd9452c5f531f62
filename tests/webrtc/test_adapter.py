"""The WebRTC adapter gives a conversation the phone call's interfaces: frames in and out, keys, hang-up,
rows with channel='webrtc'. A real aiortc peer over loopback plays the browser."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from sqlalchemy import select
from wrtc_support import PcmTrack, call, running_server, until, webrtc_tasks

from models.calls import ConversationTurn, VoiceCall


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000.0
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)


async def test_given_a_browser_call_when_the_caller_speaks_and_presses_keys_then_the_conversation_hears_both_and_its_audio_reaches_the_browser(
    tmp_path: Path,
) -> None:
    heard: dict[str, Any] = {}

    async def conversation(session: Any) -> None:
        await session.store.add_turn(session.info.call_row_id, "agent", "Hello from the hotel.")
        utt = session.media.play(tone(1.0))
        loud = 0
        for _ in range(150):  # 3 s of caller audio
            frame = await session.media.read_frame()
            assert frame.dtype == np.int16 and frame.shape == (160,)
            loud += int(np.max(np.abs(frame.astype(np.int32))) > 2000)
        heard["loud_frames"] = loud
        await utt.wait()
        heard["digit"] = await asyncio.wait_for(session.dtmf.get(), 10)
        heard["info"] = session.info
        await session.control.hangup()

    async with running_server(tmp_path, conversation) as server, aiohttp.ClientSession() as http:
        browser = await call(server, http, PcmTrack(tone(1.5, 300.0), lead_s=0.5))
        connected = await browser.next("state")
        assert connected["state"] == "connected"
        line = await browser.next("transcript")
        assert line == {"type": "transcript", "role": "agent", "text": "Hello from the hotel.", "mode": "speech"}
        await asyncio.sleep(3.5)
        await browser.send({"type": "dtmf", "digits": "7"})
        await until(lambda: "ended" in browser.states(), 20)
        # the agent's tone came back through Opus to the browser
        audio = np.concatenate(browser.heard) if browser.heard else np.zeros(0, np.int16)
        assert audio.size > 48000 * 0.5 and int(np.max(np.abs(audio.astype(np.int32)))) > 2000
        await browser.close()
        assert heard["loud_frames"] > 40, heard  # about 1.5 s of the 300 Hz tone reached the reader
        assert heard["digit"] == "7"
        assert heard["info"].asterisk_server == "webrtc" and heard["info"].called_number == "webrtc"
        async with server.sessions() as db:
            row = (await db.execute(select(VoiceCall))).scalar_one()
            turns = (await db.execute(select(ConversationTurn))).scalars().all()
        assert row.channel == "webrtc" and row.status == "completed" and row.end_reason == "agent_hangup"
        assert row.answered_at is not None and row.ended_at is not None
        # the key pressed on the page is in the transcript as the phone's keys are (issue 16 D8)
        assert [(t.role, t.content, t.input_mode) for t in turns] == [
            ("agent", "Hello from the hotel.", "speech"), ("caller", "7", "dtmf")
        ]
        assert server.gateway.calls == {} and server.gateway.open_peer_connections == 0
        await asyncio.sleep(0.1)
        assert webrtc_tasks() == []
