"""A local stand-in for the OpenAI Realtime WebSocket: a test double, kept out of the product package.

(It lived in ``ari_app/realtime/`` but nothing at run time uses it, not even ``demo``: the demo runs
the embedded brain, so an installed service carries no fake server.)

It speaks the GA protocol as the installed ``openai`` package describes it: every client event is
parsed with ``openai.types.realtime.RealtimeClientEvent`` (unknown fields count as errors, since the
real service rejects them), and every server event it sends is first checked against
``RealtimeServerEvent``, so a test can't pass on a shape the real service would never send.

The conversation itself is a script: an async function given a :class:`FakeRealtimeConnection`, which
waits for what the client sent and sends server events. :func:`echo_script` is a small default that
answers each caller turn by echoing their audio, enough for a demo.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from openai.types.realtime import (
    InputAudioBufferAppendEvent,
    RealtimeClientEvent,
    RealtimeServerEvent,
    SessionUpdateEvent,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

log = logging.getLogger(__name__)

_CLIENT_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
_SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)

Script = Callable[["FakeRealtimeConnection"], Awaitable[None]]


class FakeServerError(Exception):
    """The fake server or its script saw something the real protocol does not allow."""


def unknown_fields(model: Any, where: str = "") -> list[str]:
    """Field names a pydantic model accepted only as extras (the OpenAI models allow extras)."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        for key in model.model_extra or {}:
            found.append(f"{where}.{key}" if where else key)
        for name in type(model).model_fields:
            found += unknown_fields(getattr(model, name), f"{where}.{name}" if where else name)
    elif isinstance(model, list):
        for i, value in enumerate(model):
            found += unknown_fields(value, f"{where}[{i}]")
    return found


def parse_client_event(data: Any) -> Any:
    """Parse one client event strictly: GA shape and no field the protocol doesn't define."""
    event = _CLIENT_EVENTS.validate_python(data)
    extra = unknown_fields(event)
    if extra:
        raise FakeServerError(f"{data.get('type')}: unknown field(s) {', '.join(extra)}")
    return event


def check_server_event(data: dict[str, Any]) -> None:
    event = _SERVER_EVENTS.validate_python(data)
    extra = unknown_fields(event)
    if extra:
        raise FakeServerError(f"fake server built a {data['type']} with unknown field(s) {extra}")


class FakeRealtimeConnection:
    """One client's WebSocket, as a script sees it."""

    def __init__(self, server: FakeRealtimeServer, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.server = server
        self.ws = ws
        self.request = request
        self.model = request.query.get("model")
        self.authorization = request.headers.get("Authorization", "")
        self.events: asyncio.Queue[Any] = asyncio.Queue()  # parsed client events, except appends
        self.received: list[Any] = []  # every parsed client event, appends included
        self.session_update: SessionUpdateEvent | None = None
        self.input_audio = bytearray()
        self._audio_changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self.closed = asyncio.Event()

    # ---- what the client sent -------------------------------------------------------------------

    async def expect(self, event_type: str, within_s: float = 5.0) -> Any:
        """The next client event (appends aside), which must be of ``event_type``."""
        async with asyncio.timeout(within_s):
            event = await self.events.get()
        if event is None:
            raise FakeServerError(f"connection closed while waiting for {event_type}")
        if event.type != event_type:
            raise FakeServerError(f"expected {event_type}, got {event.type}: {event}")
        return event

    async def next_event(self, within_s: float = 5.0) -> Any:
        async with asyncio.timeout(within_s):
            return await self.events.get()

    async def audio(self, nbytes: int, within_s: float = 5.0) -> bytes:
        """Wait until the client has appended at least ``nbytes`` of audio; return what it sent."""
        async with asyncio.timeout(within_s), self._audio_changed:
            await self._audio_changed.wait_for(
                lambda: len(self.input_audio) >= nbytes or self.closed.is_set()
            )
        if len(self.input_audio) < nbytes:
            raise FakeServerError(f"connection closed after {len(self.input_audio)} of {nbytes} audio bytes")
        return bytes(self.input_audio)

    # ---- what we send ---------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", self._id("event"))
        check_server_event(event)
        await self.ws.send_str(json.dumps(event))

    async def speech_started(self, item_id: str, audio_start_ms: int = 0) -> None:
        await self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "item_id": item_id,
                "audio_start_ms": audio_start_ms,
            }
        )

    async def speech_stopped(self, item_id: str, audio_end_ms: int = 0) -> None:
        await self.send(
            {"type": "input_audio_buffer.speech_stopped", "item_id": item_id, "audio_end_ms": audio_end_ms}
        )

    async def caller_transcript(self, item_id: str, text: str) -> None:
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": 1.0},
            }
        )

    async def response_created(self, response_id: str) -> None:
        await self.send(
            {
                "type": "response.created",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            }
        )

    async def audio_delta(self, response_id: str, item_id: str, audio: bytes) -> None:
        await self.send(
            {
                "type": "response.output_audio.delta",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(audio).decode("ascii"),
            }
        )

    async def audio_done(self, response_id: str, item_id: str) -> None:
        await self.send(
            {
                "type": "response.output_audio.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
            }
        )

    async def agent_transcript(self, response_id: str, item_id: str, text: str) -> None:
        await self.send(
            {
                "type": "response.output_audio_transcript.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "transcript": text,
            }
        )

    async def function_call(
        self, response_id: str, item_id: str, call_id: str, name: str, arguments: str, output_index: int = 0
    ) -> None:
        """Both announcements the service makes of a finished call: arguments done, then the item."""
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": output_index,
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            }
        )
        await self.send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": output_index,
                "item": {
                    "id": item_id,
                    "object": "realtime.item",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call_id,
                    "name": name,
                    "arguments": arguments,
                },
            }
        )

    async def response_done(self, response_id: str, status: str = "completed") -> None:
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": status,
                    "output": [],
                },
            }
        )

    async def error(
        self,
        message: str,
        *,
        code: str | None = None,
        error_type: str = "server_error",
        event_id: str | None = None,
    ) -> None:
        err: dict[str, Any] = {"type": error_type, "message": message}
        if code is not None:
            err["code"] = code
        if event_id is not None:
            err["event_id"] = event_id
        await self.send({"type": "error", "error": err})

    async def drop(self) -> None:
        """Vanish without a close frame, as a network failure or a crashed server would."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code=code)

    # ---- reader ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_message(msg.data)
        finally:
            self.closed.set()
            self.events.put_nowait(None)
            async with self._audio_changed:
                self._audio_changed.notify_all()

    async def _on_message(self, raw: str) -> None:
        try:
            data = json.loads(raw)
            event = parse_client_event(data)
        except (ValueError, ValidationError, FakeServerError) as exc:
            self.server.validation_errors.append(str(exc))
            event_id = data.get("event_id") if isinstance(data, dict) else None
            await self.error(
                f"invalid client event: {exc}", error_type="invalid_request_error", event_id=event_id
            )
            return
        self.received.append(event)
        self.server.received.append(event)
        if isinstance(event, InputAudioBufferAppendEvent):
            async with self._audio_changed:
                self.input_audio += base64.b64decode(event.audio, validate=True)
                self._audio_changed.notify_all()
            return
        if isinstance(event, SessionUpdateEvent):
            self.session_update = event
            if self.server.answer_session_update:
                session = event.session.model_dump(mode="json", exclude_none=True)
                await self.send({"type": "session.updated", "session": session})
        self.events.put_nowait(event)


class FakeRealtimeServer:
    """``async with FakeRealtimeServer(script) as server:`` then point the client at ``server.base_url``."""

    def __init__(
        self, script: Script | None = None, *, answer_session_update: bool = True, host: str = "127.0.0.1"
    ) -> None:
        self.script = script or echo_script
        self.answer_session_update = answer_session_update
        self.host = host
        self.port = 0
        self.connections: list[FakeRealtimeConnection] = []
        self.received: list[Any] = []
        self.validation_errors: list[str] = []
        self.script_errors: list[BaseException] = []
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def base_url(self) -> str:
        """What to give ``AsyncOpenAI(base_url=…)``: the client adds ``/realtime`` and switches to ws://."""
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> FakeRealtimeServer:
        app = web.Application()
        app.router.add_get("/v1/realtime", self._handle)
        # Scripts end with their connection; anything still open at exit is cut short, not awaited.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return web.Response(status=401, text="missing bearer token")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = FakeRealtimeConnection(self, ws, request)
        self.connections.append(conn)
        await conn.send(
            {
                "type": "session.created",
                "session": {
                    "type": "realtime",
                    "model": conn.model or "gpt-realtime",
                    "output_modalities": ["audio"],
                },
            }
        )
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(conn._read(), name="fake-realtime-read")
            try:
                await self.script(conn)
            except (Exception, asyncio.CancelledError) as exc:
                if not isinstance(exc, asyncio.CancelledError):
                    log.exception("fake realtime script failed")
                    self.script_errors.append(exc)
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            await reader  # the client decides when the session ends
        return ws


async def echo_script(conn: FakeRealtimeConnection) -> None:
    """Each second of caller audio is one 'turn', answered with the same audio (a parrot, for demos)."""
    seen = 0
    turn = 0
    while not conn.closed.is_set():
        try:
            audio = await conn.audio(seen + 8000, within_s=3600)
        except TimeoutError:
            continue
        except FakeServerError:
            return  # the caller left mid-turn
        turn += 1
        chunk, seen = audio[seen : seen + 8000], seen + 8000
        item, response = f"item_in_{turn}", f"resp_{turn}"
        await conn.speech_started(item)
        await conn.speech_stopped(item, audio_end_ms=seen // 8)
        await conn.caller_transcript(item, f"(caller turn {turn})")
        await conn.response_created(response)
        await conn.audio_delta(response, f"item_out_{turn}", chunk)
        await conn.audio_done(response, f"item_out_{turn}")
        await conn.agent_transcript(response, f"item_out_{turn}", f"(echo of turn {turn})")
        await conn.response_done(response)
