"""The Realtime brain: a call's μ-law audio straight to the OpenAI Realtime API and its audio straight back.

One :meth:`RealtimeBridge.run` is one WebSocket session for one call. It owns a task group (caller
audio pump, server event reader, DTMF watcher, reply watchdog, turn writer, one task per tool call),
and every way out (a tool action, a key press, a failure, the caller leaving) sets one outcome, cancels
the tasks and awaits them before ``run`` returns. Nothing is raised to the call except cancellation:
whether a failure falls back to the local pipeline is the call's decision, not ours.

Latency matters more than anything else here, so the audio path does no transcoding and no database
wait: turns are written by their own task, in conversation order, while the audio keeps flowing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import enum
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from openai import AsyncOpenAI, OpenAIError
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeConversationItemFunctionCall,
    RealtimeErrorEvent,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemDoneEvent,
    SessionUpdatedEvent,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ari_app.media.errors import EndpointClosed
from ari_app.realtime.errors import (
    RealtimeBridgeError,
    RealtimeConfigError,
    RealtimeConnectError,
    RealtimeConnectionLost,
    RealtimeProtocolError,
    RealtimeServerError,
    RealtimeTimeout,
)
from ari_app.realtime.protocol import (
    FRAME_BYTES,
    FRAME_MS,
    ItemPlayout,
    ToolArgumentsInvalid,
    error_output,
    function_call_output_item,
    parse_arguments,
    realtime_tools,
    session_config,
)
from ari_app.session import CallGone

if TYPE_CHECKING:
    from openai.resources.realtime.realtime import AsyncRealtimeConnection
    from openai.types.realtime import ConversationItemParam, RealtimeFunctionToolParam

    from ari_app.session import CallSession
    from ari_app.settings import BrainSettings

log = logging.getLogger(__name__)

ToolRunner = Callable[[str, str], Awaitable[tuple[bool, str, dict[str, Any] | None]]]
"""``(name, arguments_json) -> (ok, output for the model, call action or None)``; an action is a dict
with a ``kind`` of ``transfer``, ``hold``, ``hangup`` or ``menu`` plus its data."""

# Errors that follow from racing the server (it already cancelled the response we cancel, or the audio
# we truncate was already dropped) say nothing about the health of the session.
_BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active"})
_BEST_EFFORT_EVENTS = frozenset({"conversation.item.truncate", "response.cancel"})
_HISTORY_TURNS = 20


class PlayingUtterance(Protocol):
    @property
    def frames_sent(self) -> int: ...

    async def wait(self) -> object: ...


class RealtimeMedia(Protocol):
    """The part of the media plane the bridge needs: raw μ-law in and out, and barge-in."""

    async def read_payload(self) -> bytes: ...

    def play_ulaw(self, payload: bytes) -> PlayingUtterance: ...

    def flush(self) -> int: ...


class OutcomeReason(enum.StrEnum):
    ACTION = "action"  # a tool asked for transfer / hold / hangup / menu: carry out ``action``
    MENU = "menu"  # the caller pressed a key: they want the keypad menu (``digit``)
    FAILED = "failed"  # connection, protocol, service or configuration failure (``error``)
    CALLER_GONE = "caller_gone"  # the media endpoint closed under us


@dataclass(frozen=True)
class RealtimeOutcome:
    reason: OutcomeReason
    action: dict[str, Any] | None = None
    digit: str | None = None
    error: RealtimeBridgeError | None = None
    turns_stored: int = 0

    @property
    def failed(self) -> bool:
        return self.reason is OutcomeReason.FAILED

    @property
    def menu_requested(self) -> bool:
        return self.reason is OutcomeReason.MENU


class RealtimeBridge:
    """The Realtime brain for one call; ``run`` may be called again after a hold (history is re-sent)."""

    def __init__(
        self,
        settings: BrainSettings,
        tool_runner: ToolRunner,
        instructions: str,
        tools: list[dict[str, Any]],
        *,
        transcription_model: str | None = "gpt-4o-mini-transcribe",
        batch_ms: int = 100,
        greet: bool = False,
        drain_timeout_s: float = 30.0,
        silence_duration_ms: int | None = None,
    ) -> None:
        if batch_ms < FRAME_MS or batch_ms % FRAME_MS:
            raise ValueError(f"batch_ms must be a positive multiple of {FRAME_MS}, got {batch_ms}")
        self.settings = settings
        self.tool_runner = tool_runner
        self.instructions = instructions
        self.tools: list[RealtimeFunctionToolParam] = realtime_tools(tools)
        self.transcription_model = transcription_model
        self.batch_frames = batch_ms // FRAME_MS
        self.greet = greet
        self.drain_timeout_s = drain_timeout_s
        self.silence_duration_ms = silence_duration_ms
        self.history: list[tuple[str, str]] = []  # (caller|agent, text), re-sent when a run resumes

    def make_client(self) -> AsyncOpenAI:
        key = self.settings.openai_api_key.get_secret_value() if self.settings.openai_api_key else ""
        if not key:
            raise RealtimeConfigError("brain.openai_api_key is not set; Realtime mode needs an API key")
        return AsyncOpenAI(
            api_key=key,
            base_url=self.settings.openai_base_url,
            websocket_base_url=self.settings.realtime_websocket_url,
            max_retries=0,
        )

    async def run(self, session: CallSession) -> RealtimeOutcome:
        """Talk with the caller until a tool action, a key press, a failure or the caller leaving."""
        return await _Run(self, session).execute()


@dataclass
class _ResponseState:
    response_id: str
    t_trigger: float | None  # when the caller stopped speaking, if this response answers them
    t_first_audio: float | None = None
    latency_reported: bool = False

    @property
    def latency_ms(self) -> int | None:
        if self.t_trigger is None or self.t_first_audio is None:
            return None
        return max(0, round((self.t_first_audio - self.t_trigger) * 1000))


@dataclass
class _PendingTurn:
    role: str
    text: asyncio.Future[str | None]
    kwargs: dict[str, Any] = field(default_factory=dict)


class _Run:
    """State of one ``run``; a fresh one per WebSocket session, so nothing leaks between runs."""

    def __init__(self, bridge: RealtimeBridge, session: CallSession) -> None:
        self.bridge = bridge
        self.session = session
        self.timeout_s = bridge.settings.step_timeout_s
        self.loop = asyncio.get_running_loop()
        self.conn: AsyncRealtimeConnection | None = None
        self.media: RealtimeMedia | None = None
        self.outcome: RealtimeOutcome | None = None
        self.done = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.event_ids = itertools.count(1)
        self.sent_types: dict[str, str] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.tg: asyncio.TaskGroup | None = None
        self.pumping = True
        self.ending = False
        # responses and audio
        self.response: _ResponseState | None = None
        self.responses: dict[str, _ResponseState] = {}
        self.response_idle = asyncio.Event()
        self.response_idle.set()
        self.cancelled_responses: set[str] = set()
        self.items: dict[str, ItemPlayout] = {}
        self.utterances: list[PlayingUtterance] = []
        self.t_speech_stopped: float | None = None
        # tools
        self.tool_params = {t["name"]: t.get("parameters") for t in bridge.tools}
        self.handled_calls: set[str] = set()
        self.tools_pending = 0
        self.need_response = False
        # watchdog
        self.deadline: tuple[str, float] | None = None
        self.deadline_changed = asyncio.Event()
        # turns
        self.turn_queue: asyncio.Queue[_PendingTurn | None] = asyncio.Queue()
        self.caller_turns: dict[str, asyncio.Future[str | None]] = {}
        self.turns_stored = 0

    # ---- lifecycle ------------------------------------------------------------------------------

    async def execute(self) -> RealtimeOutcome:
        client: AsyncOpenAI | None = None
        try:
            self.media = self._media()
            client = self.bridge.make_client()
            self.conn = await self._connect(client)
        except RealtimeBridgeError as exc:
            log.warning("realtime: call %s not started: %s", self.session.info.session_id, exc)
            if client is not None:
                await client.close()
            return RealtimeOutcome(OutcomeReason.FAILED, error=exc)
        try:
            async with asyncio.TaskGroup() as tg:
                self.tg = tg
                writer = tg.create_task(self._write_turns(), name="realtime-turns")
                self._spawn(self._start(), "realtime-start")
                self._spawn(self._receive(), "realtime-receive")
                self._spawn(self._pump_audio(), "realtime-pump")
                self._spawn(self._watch_dtmf(), "realtime-dtmf")
                self._spawn(self._watchdog(), "realtime-watchdog")
                await self.done.wait()
                for task in list(self.tasks):
                    task.cancel()
                for fut in self.caller_turns.values():
                    if not fut.done():
                        fut.set_result(None)
                self.turn_queue.put_nowait(None)
                # Turns already heard are worth a short wait; a stuck database is not worth more.
                _, pending = await asyncio.wait({writer}, timeout=self.timeout_s)
                for task in pending:
                    task.cancel()
        finally:
            await self._close(client)
        outcome = self.outcome or RealtimeOutcome(
            OutcomeReason.FAILED, error=RealtimeBridgeError("bridge ended without an outcome", remote=False)
        )
        if outcome.reason not in (OutcomeReason.MENU, OutcomeReason.CALLER_GONE):
            with contextlib.suppress(asyncio.QueueEmpty):
                # A key pressed while we were ending still wins: the caller asked for the menu.
                outcome = RealtimeOutcome(
                    OutcomeReason.MENU, digit=self.session.dtmf.get_nowait(), error=outcome.error
                )
        if outcome.reason in (OutcomeReason.MENU, OutcomeReason.FAILED) and self.media is not None:
            with contextlib.suppress(Exception):
                self.media.flush()
        log.info(
            "realtime: call %s ended: %s%s",
            self.session.info.session_id,
            outcome.reason.value,
            f" ({outcome.error})" if outcome.error else "",
        )
        return dataclasses.replace(outcome, turns_stored=self.turns_stored)

    def _media(self) -> RealtimeMedia:
        media = self.session.media
        if not all(callable(getattr(media, n, None)) for n in ("read_payload", "play_ulaw", "flush")):
            raise RealtimeConfigError("Realtime mode needs a μ-law media port (read_payload/play_ulaw/flush)")
        return media  # type: ignore[return-value]

    async def _connect(self, client: AsyncOpenAI) -> AsyncRealtimeConnection:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await client.realtime.connect(model=self.bridge.settings.realtime_model).enter()
        except TimeoutError:
            raise RealtimeConnectError(
                f"Realtime service did not accept the connection in {self.timeout_s}s"
            ) from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise RealtimeConnectError(
                f"Realtime service refused the connection (HTTP {status})",
                remote=status not in (401, 403),
                retryable=status >= 500 or status == 429,
            ) from exc
        except (OSError, OpenAIError, ConnectionClosed) as exc:
            raise RealtimeConnectError(f"could not connect to the Realtime service: {exc}") from exc

    async def _close(self, client: AsyncOpenAI | None) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.conn.close()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        assert self.tg is not None
        task = self.tg.create_task(self._guard(coro, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Turn any failure of one of our tasks into the run's outcome, so the task group never raises."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except RealtimeBridgeError as exc:
            self._finish(RealtimeOutcome(OutcomeReason.FAILED, error=exc))
        except (EndpointClosed, CallGone):
            self._finish(RealtimeOutcome(OutcomeReason.CALLER_GONE))
        except Exception as exc:
            log.exception("realtime: task %s failed on call %s", name, self.session.info.session_id)
            self._finish(
                RealtimeOutcome(
                    OutcomeReason.FAILED, error=RealtimeBridgeError(f"{name} failed: {exc!r}", remote=False)
                )
            )

    def _finish(self, outcome: RealtimeOutcome) -> None:
        first = self.outcome is None
        if first or (
            outcome.reason is OutcomeReason.MENU and self.outcome and not self.outcome.menu_requested
        ):
            self.outcome = outcome
        self.done.set()

    # ---- sending --------------------------------------------------------------------------------

    def _event_id(self, event_type: str) -> str:
        event_id = f"hop_{next(self.event_ids)}"
        self.sent_types[event_id] = event_type
        return event_id

    async def _send_lock_held(self, send: Callable[[], Awaitable[None]]) -> None:
        assert self.conn is not None
        try:
            async with self.send_lock:
                await send()
        except (ConnectionClosed, OpenAIError) as exc:
            raise RealtimeConnectionLost(f"Realtime connection closed while sending: {exc}") from exc

    async def _start(self) -> None:
        assert self.conn is not None
        conn = self.conn
        config = session_config(
            instructions=self.bridge.instructions,
            tools=self.bridge.tools,
            voice=self.bridge.settings.realtime_voice,
            transcription_model=self.bridge.transcription_model,
            language=self.session.info.language,
            silence_duration_ms=self.bridge.silence_duration_ms,
        )
        self._set_deadline("session.updated")
        await self._send_lock_held(
            lambda: conn.session.update(session=config, event_id=self._event_id("session.update"))
        )
        for role, text in self.bridge.history[-_HISTORY_TURNS:]:
            item: ConversationItemParam = (
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
                if role == "caller"
                else {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            )
            await self._send_lock_held(
                lambda item=item: conn.conversation.item.create(  # type: ignore[misc]
                    item=item, event_id=self._event_id("conversation.item.create")
                )
            )
        if self.bridge.greet:
            await self._request_response()

    async def _request_response(self) -> None:
        assert self.conn is not None
        conn = self.conn
        self.need_response = False
        self._set_deadline("response.created")
        await self._send_lock_held(lambda: conn.response.create(event_id=self._event_id("response.create")))

    async def _maybe_request_response(self) -> None:
        """After tool outputs, ask for the model's next words once every output is in and the response
        that called the tools is over (the service allows one active response per conversation)."""
        if self.need_response and not self.tools_pending and self.response is None and not self.ending:
            await self._request_response()

    # ---- caller audio ---------------------------------------------------------------------------

    async def _pump_audio(self) -> None:
        """Caller μ-law to the service, batched: fewer, larger appends cost less and VAD still reacts
        within one batch (100 ms by default)."""
        assert self.media is not None and self.conn is not None
        conn, media = self.conn, self.media
        batch = bytearray()
        frames = 0
        while True:
            payload = await media.read_payload()
            if not self.pumping:
                continue  # keep draining the endpoint so its queue doesn't grow while we end
            batch += payload
            frames += 1
            if frames >= self.bridge.batch_frames:
                audio = base64.b64encode(bytes(batch)).decode("ascii")
                batch.clear()
                frames = 0
                await self._send_lock_held(lambda audio=audio: conn.input_audio_buffer.append(audio=audio))  # type: ignore[misc]

    async def _watch_dtmf(self) -> None:
        digit = await self.session.dtmf.get()
        assert self.media is not None
        self.media.flush()
        self._finish(RealtimeOutcome(OutcomeReason.MENU, digit=digit))

    # ---- watchdog -------------------------------------------------------------------------------

    def _set_deadline(self, what: str) -> None:
        self.deadline = (what, self.loop.time() + self.timeout_s)
        self.deadline_changed.set()

    def _clear_deadline(self, what: str) -> None:
        if self.deadline is not None and self.deadline[0] == what:
            self.deadline = None
            self.deadline_changed.set()

    async def _watchdog(self) -> None:
        """The service is silent while the caller is; it must not be silent where an answer is owed."""
        while True:
            self.deadline_changed.clear()
            if self.deadline is None:
                await self.deadline_changed.wait()
                continue
            what, when = self.deadline
            delay = when - self.loop.time()
            if delay <= 0:
                raise RealtimeTimeout(f"no {what} from the Realtime service within {self.timeout_s}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.deadline_changed.wait()

    # ---- server events --------------------------------------------------------------------------

    async def _receive(self) -> None:
        assert self.conn is not None
        try:
            async for event in self.conn:
                try:
                    await self._on_event(event)
                except (AttributeError, KeyError, TypeError, binascii.Error) as exc:
                    raise RealtimeProtocolError(
                        f"unusable {getattr(event, 'type', '?')} event from the Realtime service: {exc}"
                    ) from exc
        except (ConnectionClosed, OpenAIError) as exc:
            raise RealtimeConnectionLost(f"Realtime connection closed: {exc}") from exc
        raise RealtimeConnectionLost("Realtime service closed the connection")

    async def _on_event(self, event: object) -> None:
        if isinstance(event, ResponseAudioDeltaEvent):
            self._on_audio(event)
        elif isinstance(event, InputAudioBufferSpeechStartedEvent):
            await self._on_speech_started()
        elif isinstance(event, InputAudioBufferSpeechStoppedEvent):
            self._on_speech_stopped(event)
        elif isinstance(event, ResponseCreatedEvent):
            self._on_response_created(event)
        elif isinstance(event, ResponseAudioDoneEvent):
            self._on_audio_done(event.item_id)
        elif isinstance(event, ResponseAudioTranscriptDoneEvent):
            self._on_agent_transcript(event)
        elif isinstance(event, ConversationItemInputAudioTranscriptionCompletedEvent):
            fut = self._caller_turn(event.item_id)
            if not fut.done():
                fut.set_result(event.transcript)
        elif isinstance(event, ConversationItemInputAudioTranscriptionFailedEvent):
            fut = self._caller_turn(event.item_id)
            if not fut.done():
                fut.set_result(None)
        elif isinstance(event, ResponseFunctionCallArgumentsDoneEvent):
            self._on_function_call(event.call_id, event.name, event.arguments)
        elif isinstance(event, ResponseOutputItemDoneEvent):
            item = event.item
            if isinstance(item, RealtimeConversationItemFunctionCall) and item.call_id:
                self._on_function_call(item.call_id, item.name, item.arguments)
        elif isinstance(event, ResponseDoneEvent):
            await self._on_response_done(event)
        elif isinstance(event, SessionUpdatedEvent):
            self._clear_deadline("session.updated")
        elif isinstance(event, RealtimeErrorEvent):
            self._on_error(event)

    def _on_audio(self, event: ResponseAudioDeltaEvent) -> None:
        if event.response_id in self.cancelled_responses:
            return
        item = self.items.get(event.item_id)
        if item is None:
            item = self.items[event.item_id] = ItemPlayout(event.item_id, event.content_index)
        if item.truncated:
            return
        audio = base64.b64decode(event.delta, validate=True)
        state = self.responses.get(event.response_id)
        if state is not None and state.t_first_audio is None:
            state.t_first_audio = self.loop.time()
        self._queue(item, item.add(audio))

    def _queue(self, item: ItemPlayout, audio: bytes) -> None:
        if not audio:
            return
        assert self.media is not None
        utterance = self.media.play_ulaw(audio)
        item.queued_as(utterance, len(audio))
        self.utterances.append(utterance)

    def _on_audio_done(self, item_id: str) -> None:
        item = self.items.get(item_id)
        if item is None or item.truncated:
            return
        item.audio_done = True
        self._queue(item, item.take_tail())

    async def _on_speech_started(self) -> None:
        """Barge-in: silence the agent at once, then tell the service how much of its audio was heard,
        so its context holds only what the caller actually heard."""
        assert self.media is not None and self.conn is not None
        conn = self.conn
        self.media.flush()  # first: every millisecond here is the agent talking over the caller
        self.utterances.clear()
        for item in self.items.values():
            if item.truncated or item.fully_played:
                continue
            item.truncated = True
            item.pending.clear()
            end_ms = item.played_ms
            log.debug("realtime: barge-in on %s after %d ms", item.item_id, end_ms)
            await self._send_lock_held(
                lambda item=item, end_ms=end_ms: conn.conversation.item.truncate(  # type: ignore[misc]
                    item_id=item.item_id,
                    content_index=item.content_index,
                    audio_end_ms=end_ms,
                    event_id=self._event_id("conversation.item.truncate"),
                )
            )
        if self.response is not None and self.response.response_id not in self.cancelled_responses:
            response_id = self.response.response_id
            self.cancelled_responses.add(response_id)
            await self._send_lock_held(
                lambda: conn.response.cancel(
                    response_id=response_id, event_id=self._event_id("response.cancel")
                )
            )

    def _on_speech_stopped(self, event: InputAudioBufferSpeechStoppedEvent) -> None:
        self.t_speech_stopped = self.loop.time()
        if self.bridge.transcription_model:
            fut = self._caller_turn(event.item_id)
            self.turn_queue.put_nowait(_PendingTurn("caller", fut, {"input_mode": "speech"}))
        if not self.ending:
            self._set_deadline("response.created")

    def _caller_turn(self, item_id: str) -> asyncio.Future[str | None]:
        fut = self.caller_turns.get(item_id)
        if fut is None:
            fut = self.caller_turns[item_id] = self.loop.create_future()
        return fut

    def _on_response_created(self, event: ResponseCreatedEvent) -> None:
        response_id = event.response.id or f"anon-{len(self.responses)}"
        state = _ResponseState(response_id, self.t_speech_stopped)
        self.t_speech_stopped = None
        self.responses[response_id] = self.response = state
        self.response_idle.clear()
        self._clear_deadline("response.created")

    async def _on_response_done(self, event: ResponseDoneEvent) -> None:
        response = event.response
        for item in self.items.values():
            if not item.truncated and not item.audio_done and item.pending:
                item.audio_done = True
                self._queue(item, item.take_tail())
        if self.response is not None and (response.id is None or response.id == self.response.response_id):
            self.response = None
            self.response_idle.set()
        if response.status == "failed":
            details = response.status_details
            err = details.error if details is not None else None
            raise RealtimeServerError(
                f"Realtime response failed: {(err.message if err else None) or 'no detail'}",
                code=err.code if err else None,
                error_type=err.type if err else None,
            )
        await self._maybe_request_response()

    def _on_agent_transcript(self, event: ResponseAudioTranscriptDoneEvent) -> None:
        item = self.items.get(event.item_id)
        state = self.responses.get(event.response_id)
        latency = None
        timings: dict[str, Any] = {}
        if state is not None and not state.latency_reported:
            latency = state.latency_ms
            state.latency_reported = True
            if latency is not None:
                timings["first_audio_ms"] = latency
        interrupted = bool(item is not None and item.truncated)
        if item is not None:
            timings["audio_ms"] = item.bytes_queued // 8
            if interrupted:
                timings["heard_ms"] = item.played_ms
        fut: asyncio.Future[str | None] = self.loop.create_future()
        fut.set_result(event.transcript)
        self.turn_queue.put_nowait(
            _PendingTurn(
                "agent", fut, {"latency_ms": latency, "timings": timings, "interrupted": interrupted}
            )
        )

    def _on_error(self, event: RealtimeErrorEvent) -> None:
        err = event.error
        caused_by = self.sent_types.get(err.event_id or "")
        if err.code in _BENIGN_ERROR_CODES or caused_by in _BEST_EFFORT_EVENTS:
            log.info("realtime: ignored error on %s: %s %s", caused_by, err.code, err.message)
            return
        raise RealtimeServerError(
            f"Realtime service error{f' on {caused_by}' if caused_by else ''}: {err.message}",
            code=err.code,
            error_type=err.type,
            client_event_type=caused_by,
        )

    # ---- tools ----------------------------------------------------------------------------------

    def _on_function_call(self, call_id: str, name: str, arguments: str) -> None:
        # The call is announced twice (arguments done, then the finished item); run it once.
        if call_id in self.handled_calls or self.ending:
            return
        self.handled_calls.add(call_id)
        self.tools_pending += 1
        self.need_response = True
        self._spawn(self._run_tool(call_id, name, arguments), f"realtime-tool-{name}")

    async def _run_tool(self, call_id: str, name: str, arguments: str) -> None:
        assert self.conn is not None
        conn = self.conn
        action: dict[str, Any] | None = None
        try:
            output = await self._tool_output(name, arguments)
            if isinstance(output, tuple):
                output, action = output
            item = function_call_output_item(call_id, output)
            await self._send_lock_held(
                lambda: conn.conversation.item.create(
                    item=item,  # type: ignore[arg-type]
                    event_id=self._event_id("conversation.item.create"),
                )
            )
        finally:
            self.tools_pending -= 1
        if action is not None:
            await self._end_with_action(action)
        else:
            await self._maybe_request_response()

    async def _tool_output(self, name: str, arguments: str) -> str | tuple[str, dict[str, Any] | None]:
        """The text the model gets back, and the call action if the tool asked for one.

        Nothing runs unless the tool is one we offered and its arguments fit its schema; whatever goes
        wrong is told to the model as an error it can recover from, never raised into the call.
        """
        if name not in self.tool_params:
            return error_output(f"there is no tool called {name!r}")
        try:
            parse_arguments(self.tool_params[name], arguments)  # type: ignore[arg-type]
        except ToolArgumentsInvalid as exc:
            log.info("realtime: rejected %s arguments: %s", name, exc)
            return error_output(f"invalid arguments for {name}: {exc}")
        try:
            async with asyncio.timeout(self.timeout_s):
                ok, output, action = await self.bridge.tool_runner(name, arguments)
        except TimeoutError:
            return error_output(f"{name} took too long; tell the caller and offer another way")
        except Exception:
            log.exception("realtime: tool %s failed on call %s", name, self.session.info.session_id)
            return error_output(f"{name} failed; apologise and offer another way")
        if not ok:
            log.info("realtime: tool %s answered not ok", name)
        return output, action if isinstance(action, Mapping) else None

    async def _end_with_action(self, action: dict[str, Any]) -> None:
        """Let the agent finish the sentence it is saying ("I'll put you through") before handing the
        call back for the transfer, hold or hang-up; a barge-in or a key press cuts this short."""
        self.ending = True
        self.pumping = False
        self.need_response = False
        self._clear_deadline("response.created")
        try:
            async with asyncio.timeout(self.bridge.drain_timeout_s):
                await self.response_idle.wait()
                for item in self.items.values():
                    if not item.truncated and item.pending:
                        item.audio_done = True
                        self._queue(item, item.take_tail())
                for utterance in list(self.utterances):
                    await utterance.wait()
        except TimeoutError:
            log.warning(
                "realtime: agent audio still playing after %.0fs; ending", self.bridge.drain_timeout_s
            )
        self._finish(RealtimeOutcome(OutcomeReason.ACTION, action=dict(action)))

    # ---- turns ----------------------------------------------------------------------------------

    async def _write_turns(self) -> None:
        """Store turns one at a time in conversation order; a caller's transcript can arrive after the
        agent has already answered, so the caller's slot is reserved when their speech stops."""
        call_id = self.session.info.call_row_id
        while (turn := await self.turn_queue.get()) is not None:
            try:
                async with asyncio.timeout(self.timeout_s):
                    text = await asyncio.shield(turn.text)
            except TimeoutError:
                text = None
            if not text or not text.strip():
                continue
            self.bridge.history.append((turn.role, text.strip()))
            try:
                await self.session.store.add_turn(call_id, turn.role, text.strip(), **turn.kwargs)
                self.turns_stored += 1
            except Exception:  # the database must not take the call's audio down with it
                log.exception("realtime: could not store %s turn for call %s", turn.role, call_id)


__all__ = [
    "OutcomeReason",
    "PlayingUtterance",
    "RealtimeBridge",
    "RealtimeMedia",
    "RealtimeOutcome",
    "ToolRunner",
    "FRAME_BYTES",
]
