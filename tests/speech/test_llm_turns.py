"""The `llm` brain under the same turn-end rule: its request starts on the early guess and is cancelled
when the caller goes on; the merged turn is what the model finally answers (issue 12).

A whole CallConversation runs over the in-memory media (frames, deterministic) with the real
LlmBrain and the real `openai` client talking to a local server that speaks the chat-completions
streaming wire protocol. The only waits in real time are for that server's HTTP exchanges, while
the caller's frame clock stands still.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from chatstub import LocalChatServer, chunk, stream_chunks
from speechsupport import Driver, FakeSession, FakeStt, FakeTts, MemMedia, make_engines, silence, voice
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain.llm import LlmBrain
from ari_app.conversation import CallConversation, ConversationDeps
from ari_app.ivr.config import MenuStore
from ari_app.session import CallInfo
from ari_app.settings import BrainSettings, Settings
from models.store import CallStore


class StallingChat(LocalChatServer):
    """First request: headers, then only SSE comments until the client goes away (recorded).
    Later requests: one fixed reply at once."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.disconnected = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        if len(self.requests) == 1:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            try:
                for _ in range(2000):  # at most ~20 s
                    await asyncio.sleep(0.01)
                    await resp.write(b": thinking\n\n")
            except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
                self.disconnected.set()
                raise
            return resp
        return await stream_chunks(request, [chunk({"role": "assistant", "content": self.reply}), chunk({}, "stop")])


async def real_wait(cond: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def chat() -> AsyncIterator[StallingChat]:
    server = StallingChat("Certainly, a double room for two adults.")
    await server.start()
    yield server
    await server.stop()


async def test_given_llm_brain_when_the_caller_goes_on_after_an_early_end_then_the_request_on_the_guess_is_cancelled(
    tmp_path: Path, chat: StallingChat, sqlite_sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(brain=BrainSettings(mode="llm", openai_base_url=chat.url, step_timeout_s=30))
    stt = FakeStt("I need a room tonight.")
    tts = FakeTts()
    engines = make_engines(tmp_path, stt=stt, tts=tts)
    await engines.warm()
    store = CallStore(sqlite_sessions)
    call_id = await store.open_call(session_id="llm-1", channel_id="c-llm-1")
    media = MemMedia()
    session = FakeSession(media, store, info=CallInfo("llm-1", call_id, "c-llm-1"), settings=settings)
    deps = ConversationDeps(
        settings=settings, brain=LlmBrain(settings.brain), menus=MenuStore.from_settings(settings), speech=engines
    )
    conv = CallConversation(deps, session)
    drv = Driver(media)
    run = asyncio.create_task(conv.run())
    try:
        await drv.until(lambda: bool(media.voiced_ticks()) and not media.is_playing)  # the greeting
        greeting_end = media.tick_no
        await drv.feed(np.concatenate([voice(1.0), silence(0.32)]))  # early end at 300 ms of silence
        await real_wait(lambda: len(chat.requests) == 1, "the request started on the guess")
        assert chat.requests[0]["messages"][-1] == {"role": "user", "content": "I need a room tonight."}
        stt.text = "I need a room tonight for two adults."
        await drv.feed(voice(1.0, seed=4))  # the caller goes on
        await real_wait(chat.disconnected.is_set, "the guessed request to be cancelled")
        await drv.feed(silence(1.2))  # past any hangover: the merged turn has ended
        await real_wait(lambda: len(chat.requests) == 2, "the request for the merged turn")
        await drv.until(lambda: "Certainly, a double room for two adults." in tts.texts, max_ticks=200)
        await drv.until(lambda: not media.is_playing, max_ticks=1000)
    finally:
        await media.inbound.put(None)
        await asyncio.wait_for(run, 10)
    second = chat.requests[1]["messages"]
    users = [m["content"] for m in second if m["role"] == "user"]
    assert users == ["I need a room tonight for two adults."]  # the withdrawn guess left no trace in the history
    assert not any(m["role"] == "assistant" and m.get("content") is None for m in second)
    # nothing built on "I need a room tonight." reached the line: every agent frame after the greeting is the reply
    reply_frames = -(-len(await tts.synthesize("Certainly, a double room for two adults.")) // 160)
    assert len([t for t in media.voiced_ticks() if t > greeting_end]) == reply_frames
    assert "I need a room tonight." not in [m["content"] for m in conv.ctx.llm_messages if m["role"] == "user"]
