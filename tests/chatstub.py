"""A local OpenAI-compatible chat-completions server for tests and benches (importable as ``chatstub``).

The OpenAI endpoints cannot be reached from here, so the real ``openai`` client is pointed at this
server, which speaks the documented streaming wire format: ``data: {chat.completion.chunk}`` lines,
then ``data: [DONE]``. Subclasses say what each request gets by overriding :meth:`handle`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One streamed ``chat.completion.chunk`` with a single choice."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def sse(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body)}\n\n".encode()


async def stream_chunks(request: web.Request, chunks: list[dict[str, Any]]) -> web.StreamResponse:
    """Send ``chunks`` as one event stream, then ``[DONE]``."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for body in chunks:
        await resp.write(sse(body))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


class LocalChatServer:
    """``POST /v1/chat/completions`` on a free loopback port; ``url`` is the client's base URL."""

    def __init__(self) -> None:
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError
