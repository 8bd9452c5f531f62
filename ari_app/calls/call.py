"""One caller channel in our Stasis application: its lifecycle, its tasks and its call-control verbs.

A :class:`Call` implements :class:`ari_app.session.CallSession` (``info``, ``media``, ``control``,
``store``, ``settings``, ``dtmf``) and :class:`ari_app.session.CallControl`, and runs the injected
conversation once audio flows. It owns every task it starts (one ``asyncio.TaskGroup``); ending the
call cancels them, then tears down in one fixed order: our media endpoint, the caller (only where we
must), the desk leg, our externalMedia channel, the bridge (Asterisk deletes neither), the call row.

Setup follows the records (``../shared/asterisk/records``): call row at once → answer → mixing bridge
→ local RTP endpoint → ``externalMedia`` with a channel id we chose → wait for *that channel's own*
``StasisStart`` (the POST returns ~13 ms before it; bridging earlier fails with 422) → add both to the
bridge → point the endpoint at ``UNICASTRTP_LOCAL_ADDRESS:PORT`` from the POST's channel variables.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ari_app.ari.client import AriClient
from ari_app.ari.errors import AriError, AriNotFound
from ari_app.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Event,
    PlaybackEvent,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from ari_app.ari.models import Channel
from ari_app.calls.media import EndpointFactory, MediaEndpoint
from ari_app.calls.state import FINAL_STATES, SETUP_STATES, CallState, Lifecycle
from ari_app.logging_setup import call_id_var
from ari_app.session import CallControl, CallGone, CallInfo, CallSession, MediaPort, Utterance
from models.calls import CallStatus
from models.store import key_press_turn

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ari_app.settings import Settings
    from models.calls import VoiceCall
    from models.store import CallStore

#: every channel id we choose starts with this, so a restarted service can tell its own leftovers
OWN_ID_PREFIX = "hotelop-"

Conversation = Callable[[CallSession], Awaitable[None]]

log = logging.getLogger("ari_app.calls")


# Why the dialplan sent the call, as our rendered extensions.conf passes it: Stasis(app,<reason>,<number>)
STASIS_REASONS = frozenset({"inbound", "afterhours", "internal", "webrtc", "outbound"})
DID_REASONS = frozenset({"inbound", "afterhours"})


def called_number_from(args: Sequence[str], exten: str) -> str:
    """The number the caller dialled: the DID our dialplan passes after the reason, a bare first
    argument from a hand-written ``Stasis(app,<DID>)``, or else the dialplan extension."""
    if args and args[0] in STASIS_REASONS:
        if args[0] in DID_REASONS and len(args) > 1 and args[1]:
            return args[1]
        return exten
    return args[0] if args and args[0] else exten


class TransferOutcome(enum.Enum):
    CONNECTED = "connected"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class CallSetupError(Exception):
    """A setup step failed; the call ends (status ``failed``) and nothing else is affected.

    ``short`` fits the call row's ``end_reason`` (64 characters): the step and the kind of failure
    (HTTP status, ``timeout`` or the error's type); the log line carries the whole message."""

    def __init__(self, step: str, detail: object, kind: str | None = None) -> None:
        self.step = step
        if kind is None:
            status = getattr(detail, "status", None)
            kind = str(status) if status is not None else type(detail).__name__
        self.short = f"{step} ({kind})"
        super().__init__(f"{step}: {detail}")


class TransferFailed(Exception):
    """A blind transfer could not be started; the caller is still with us."""


@dataclass(frozen=True)
class CallOptions:
    """Call-control knobs that are not in the settings file (sensible fixed defaults)."""

    media_stasis_timeout_s: float = 5.0  # wait for the externalMedia channel's own StasisStart
    desk_endpoint: str = "PJSIP/{extension}"  # how an announced transfer dials the desk
    transfer_answer_timeout_s: float = 20.0
    on_setup_failure: str = "continue"  # "continue" (next dialplan priority) or "hangup"
    shutdown_hangup_reason: str = "normal"
    drain_new_call_reason: str = "congestion"
    teardown_timeout_s: float = 5.0
    transfer_settle_s: float = 0.3  # after continueInDialplan, before checking the dialplan took it
    clock: Callable[[], float] = time.monotonic  # for the media watchdog
    hangup_grace_s: float = 2.0  # after a caller hang-up, for the conversation to store a cut reply


class CallHost(Protocol):
    """What a call needs from its manager: routing of events for the ids it chose."""

    client: AriClient
    app: str
    server_name: str
    options: CallOptions

    def claim_channel(self, channel_id: str, call: Call, role: str) -> None: ...

    def release_channel(self, channel_id: str) -> None: ...

    def claim_playback(self, playback_id: str, call: Call) -> None: ...

    def release_playback(self, playback_id: str) -> None: ...

    def call_finished(self, call: Call) -> None: ...


class _NoMedia:
    """Placeholder until the endpoint exists; a conversation never sees it (it starts at ACTIVE)."""

    def _gone(self) -> CallGone:
        return CallGone("the call has no media (not set up, or already ended)")

    async def read_frame(self) -> npt.NDArray[np.int16]:
        raise self._gone()

    def play(self, pcm: npt.NDArray[np.int16]) -> Utterance:
        raise self._gone()

    def play_ulaw(self, payload: bytes) -> Utterance:
        raise self._gone()

    def flush(self) -> int:
        return 0

    @property
    def is_playing(self) -> bool:
        return False

    async def start(self) -> None:
        raise self._gone()

    @property
    def local_host(self) -> str:
        return ""

    @property
    def local_port(self) -> int:
        return 0

    def set_remote(self, host: str, port: int) -> None:
        raise self._gone()

    async def close(self) -> None:
        return None


class _CallLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"[{extra['tag']} {extra['channel_id']}] {msg}", kwargs


class Call:
    def __init__(
        self,
        host: CallHost,
        *,
        channel: Channel,
        settings: Settings,
        store: CallStore,
        conversation: Conversation,
        endpoint_factory: EndpointFactory,
        args: Sequence[str] = (),
        direction: str = "inbound",
        called_number: str | None = None,
        adopt_row: VoiceCall | None = None,
    ) -> None:
        self.host = host
        self.client = host.client
        self.channel = channel
        self.channel_id = channel.id
        self.direction = direction
        self.settings = settings
        self.store = store
        self.conversation = conversation
        self.endpoint_factory = endpoint_factory
        self.args = tuple(args)
        self.adopted = adopt_row is not None
        self.session_id = adopt_row.session_id if adopt_row is not None else uuid.uuid4().hex
        self.row_id: int | None = adopt_row.id if adopt_row is not None else None
        if called_number is None:
            called_number = called_number_from(self.args, channel.dialplan.exten)
        self.called_number = called_number
        self.tag = f"{host.server_name}/{self.session_id[:8]}"
        self.log = _CallLog(log, {"tag": self.tag, "channel_id": channel.id, "session_id": self.session_id})
        self.life = Lifecycle(self.tag)

        # CallSession
        self._screening: tuple[str, str] = ("answer", "")
        self.info = self._make_info()
        self.endpoint: MediaEndpoint = _NoMedia()
        self.media: MediaPort = self.endpoint
        self.control: CallControl = self
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()

        self.bridge_id: str | None = None
        self.em_id: str | None = None
        self.desk_id: str | None = None
        self.on_hold = False
        self._media_ready = False
        self._generation = 0
        self._em_ready: asyncio.Future[None] | None = None
        self._em_deleting = False
        self._desk_result: asyncio.Future[TransferOutcome] | None = None
        self._desk_alive = False
        self._playbacks: dict[str, asyncio.Future[str]] = {}
        self._caller_present = True
        self._hangup_requested = False
        self._continued = False
        self._setup_failed = False
        self._end_reason: str | None = None
        self._end_status: str | None = None
        self._handoff_done = asyncio.Event()
        self._transfer_target: tuple[str, str] | None = None
        self._winding_down = False
        self._fallback_task: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._life_task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        # set once the call's row is written (or the call ended without one): whoever is told the
        # session id (the outbound API) must find the session when they ask for it
        self.row_settled = asyncio.Event()
        if self.row_id is not None:
            self.row_settled.set()

    # ------------------------------------------------------------------------------------------
    # identity

    @property
    def state(self) -> CallState:
        return self.life.state

    @property
    def caller_present(self) -> bool:
        return self._caller_present

    @property
    def end_reason(self) -> str | None:
        return self._end_reason

    def _make_info(self) -> CallInfo:
        return CallInfo(
            session_id=self.session_id,
            call_row_id=self.row_id or 0,
            channel_id=self.channel_id,
            caller_number=self.channel.caller.number,
            caller_name=self.channel.caller.name,
            called_number=self.called_number,
            language=self.settings.speech.call_language(self.called_number, self.channel.language or ""),
            asterisk_server=self.host.server_name,
            direction=self.direction,
            stasis_args=self.args,
            adopted=self.adopted,
            screening=self._screening[0],
            screening_reason=self._screening[1],
        )

    def owned_bridge_name(self) -> str:
        return f"{self.host.app}-{self.session_id}"

    # ------------------------------------------------------------------------------------------
    # tasks

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task owned by this call (cancelled when the call ends)."""
        if self._tg is None or self.state in FINAL_STATES:
            coro.close()
            raise CallGone(f"call {self.tag} has ended")
        task = self._tg.create_task(coro, name=f"call:{self.tag}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._life_task is not None:
            self._life_task.cancel()

    async def run(self) -> None:
        """The whole life of the call. Never raises (except cancellation of the caller's own task)."""
        # every task of this call inherits the call's correlation id for its log lines
        call_id_var.set(self.session_id)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._life_task = tg.create_task(self._live(), name=f"call:{self.tag}")
        except Exception as exc:  # a spawned task failed: that ends this call only
            self.log.exception("call task failed: %r", exc)
            self._note_end(f"task_error: {type(exc).__name__}", CallStatus.FAILED)
        finally:
            self._tg = None
            await self._teardown()

    def end(self, reason: str, status: str | None = None) -> None:
        """Ask the call to end (idempotent): cancel its tasks; ``run`` then tears down."""
        self._note_end(reason, status)
        self._cancel_tasks()

    def _note_end(self, reason: str, status: str | None) -> None:
        if self._end_reason is None:
            self._end_reason = reason
            self._end_status = status

    async def _live(self) -> None:
        try:
            await self._setup()
            self.life.advance(CallState.ACTIVE)
            self.log.info(
                "call active: RTP %s:%d <-> Asterisk; conversation starts",
                self.endpoint.local_host,
                self.endpoint.local_port,
            )
            self._start_fallback()
            self.spawn(self._watch_media(self.settings.calls.media_timeout_s), "media-watch")
            await self._converse()
        except asyncio.CancelledError:
            if self._end_reason is None:
                raise  # not our own end(): let the cancellation through
        except CallSetupError as exc:
            self._setup_failed = True
            self.log.error("call setup failed at %s; ending this call only", exc)
            self._note_end(f"setup_failed: {exc.short}", CallStatus.FAILED)
        except CallGone:
            self._caller_present = False
            self._note_end(
                "caller_hangup", CallStatus.ABANDONED if self.state in SETUP_STATES else CallStatus.COMPLETED
            )
        except Exception as exc:
            if self._winding_down:  # our media closed under it after the caller hung up
                self.log.info("conversation stopped by the hang-up (%r)", exc)
            else:
                self.log.exception("conversation failed: %r", exc)
                self._note_end(f"conversation_error: {type(exc).__name__}", CallStatus.FAILED)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _converse(self) -> None:
        await self.conversation(self)
        if self.state is CallState.HANDED_OFF:
            await self._handoff_done.wait()
            return
        if self._continued or self._end_reason is not None:
            # the conversation already ended the call (a transfer handed the caller to the
            # dialplan, or a hang-up): hanging up now would cut the caller's Dial to the desk
            return
        if self._caller_present and self.state is CallState.ACTIVE:
            self.log.info("conversation finished; hanging up the caller")
            self._note_end("conversation_finished", CallStatus.COMPLETED)
            await self._hangup_caller("normal")

    # ------------------------------------------------------------------------------------------
    # setup

    async def _setup(self) -> None:
        store = self.store
        if self.row_id is None:
            try:
                self.row_id = await store.open_call(
                    session_id=self.session_id,
                    channel_id=self.channel_id,
                    channel_name=self.channel.name,
                    caller_id=self.channel.caller.number,
                    caller_name=self.channel.caller.name,
                    called_number=self.called_number,
                    direction=self.direction,
                    asterisk_server=self.host.server_name,
                    language=self.info.language,
                    brain=self.settings.brain.mode,
                )
            except Exception as exc:
                raise CallSetupError("database", exc) from exc
            self.row_settled.set()
            if self.direction == "inbound":
                await self._screen()
        self.info = self._make_info()
        self.log.info(
            "call %s (row %d): caller %r, called %r%s",
            "re-adopted" if self.adopted else "opened",
            self.row_id,
            self.channel.caller.number,
            self.called_number,
            "" if self.direction == "inbound" else f", {self.direction}",
        )
        if self.direction == "inbound" and not self.adopted:
            self.life.advance(CallState.ANSWERING)
            try:
                await self.client.answer(self.channel_id)
            except AriError as exc:
                raise CallSetupError("answer", exc) from exc
        if not self.adopted:
            await store.mark_answered(self.row_id)
        self.life.advance(CallState.BRIDGING)
        await self._connect_media()

    async def _screen(self) -> None:
        """Block list, rate limit, withheld numbers (issue 15): decided at answer; the
        conversation carries it out (a short message and a hang-up, or the keypad menu only)."""
        settings = getattr(self.settings, "screening", None)
        if settings is None:
            return
        try:
            from ari_app.screening import screen_caller

            decision = await screen_caller(
                self.store.sessions,
                settings,
                self.channel.caller.number,
                datetime.now(UTC),
                exclude_session_id=self.session_id,
            )
        except Exception as exc:  # screening must never keep a caller out by failing
            self.log.warning("caller screening failed (%r); answering as usual", exc)
            return
        if decision.action != "answer":
            self.log.info(
                "screening: caller %r -> %s (%s)", self.channel.caller.number, decision.action, decision.reason
            )
            self._screening = (decision.action, decision.end_reason or decision.reason)

    async def _connect_media(self) -> None:
        client = self.client
        try:
            bridge = await client.create_bridge(type="mixing", name=self.owned_bridge_name())
        except AriError as exc:
            raise CallSetupError("bridge", exc) from exc
        self.bridge_id = bridge.id
        endpoint = self.endpoint_factory()
        try:
            await endpoint.start()
        except Exception as exc:
            raise CallSetupError("media endpoint", exc) from exc
        self.endpoint = endpoint
        self.media = endpoint
        self._media_ready = True
        self.life.advance(CallState.WAITING_MEDIA)
        self._generation += 1
        # unique per run too: a re-adopted call must not collide with its previous run's leftovers
        em_id = f"{OWN_ID_PREFIX}em-{self.session_id}-{self._generation}{uuid.uuid4().hex[:6]}"
        loop = asyncio.get_running_loop()
        self._em_ready = loop.create_future()
        self.em_id = em_id
        self.host.claim_channel(em_id, self, "media")  # before the POST: its StasisStart may beat the reply
        host = self.settings.media.advertise_host or endpoint.local_host
        try:
            em = await client.external_media(
                app=self.host.app,
                channel_id=em_id,
                external_host=f"{host}:{endpoint.local_port}",
                format=self.settings.media.codec,
                encapsulation="rtp",
                transport="udp",
                connection_type="client",
                direction="both",
            )
        except AriError as exc:
            raise CallSetupError("externalMedia", exc) from exc
        remote_host, remote_port = await self._asterisk_rtp_address(em)
        endpoint.set_remote(remote_host, remote_port)
        try:
            async with asyncio.timeout(self.host.options.media_stasis_timeout_s):
                await self._em_ready
        except TimeoutError:
            raise CallSetupError(
                "externalMedia",
                f"channel {em_id} did not enter Stasis within {self.host.options.media_stasis_timeout_s:g} s",
                kind="no StasisStart",
            ) from None
        try:
            await client.add_channel(self.bridge_id, [self.channel_id, em_id])
        except AriNotFound as exc:
            raise CallGone(str(exc)) from exc
        except AriError as exc:
            raise CallSetupError("addChannel", exc) from exc

    async def _asterisk_rtp_address(self, em: Channel) -> tuple[str, int]:
        """Where Asterisk sends from (and so where we send to): the POST's channel variables,
        else GET the variables (older Asterisk), with the ARI host for an unspecified address."""
        host = em.channelvars.get("UNICASTRTP_LOCAL_ADDRESS", "")
        port_s = em.channelvars.get("UNICASTRTP_LOCAL_PORT", "")
        try:
            if not host:
                host = await self.client.get_variable(em.id, "UNICASTRTP_LOCAL_ADDRESS")
            if not port_s:
                port_s = await self.client.get_variable(em.id, "UNICASTRTP_LOCAL_PORT")
            port = int(port_s)
        except (AriError, ValueError) as exc:
            raise CallSetupError("externalMedia", f"no usable UNICASTRTP_LOCAL_ADDRESS/PORT: {exc}") from exc
        if host in ("", "0.0.0.0", "::"):
            host = self.client.base_url.host or "127.0.0.1"
        return host, port

    # ------------------------------------------------------------------------------------------
    # events routed here by the manager

    def on_caller_event(self, event: Event) -> None:
        if isinstance(event, ChannelDtmfReceived):
            if self.state not in FINAL_STATES:
                self.log.debug("DTMF %s (%d ms)", event.digit, event.duration_ms)
                self.dtmf.put_nowait(event.digit)
                self._record_key(event.digit)
        elif isinstance(event, ChannelHangupRequest):
            if self._hangup_requested:  # cause 32 (soft): the echo of our own DELETE
                self.log.info("our hang-up of the caller took effect (cause %s)", event.cause)
            else:
                self.log.info("caller hang-up request (cause %s)", event.cause)
            self._caller_left("caller_hangup")
        elif isinstance(event, StasisEnd):
            self.log.info("caller left Stasis")
            self._caller_left("transferred" if self._continued else "caller_hangup")
        elif isinstance(event, ChannelDestroyed):
            self._caller_left("caller_hangup")
        else:
            self.log.debug("event %s", event.type)

    def _record_key(self, digit: str) -> None:
        """A key press is part of the transcript (issue 16 D8): a caller turn in ``dtmf`` mode,
        its number taken now so it sits where it was pressed."""
        if self.row_id is None or self._tg is None:
            return
        # owned by the call's task group but not cancelled when the call ends: the key that ended
        # the call (a transfer by key) is written before teardown closes the row
        self._tg.create_task(key_press_turn(self.store, self.row_id, digit), name=f"call:{self.tag}:store-key")

    def _caller_left(self, why: str) -> None:
        self._caller_present = False
        if self.state in FINAL_STATES:
            return
        if self._continued or self.state is CallState.HANDED_OFF:
            status = CallStatus.TRANSFERRED
        elif self.state in SETUP_STATES and not self.adopted:
            status = CallStatus.ABANDONED
        else:
            status = CallStatus.COMPLETED
        if self._hangup_requested and why == "caller_hangup":
            why = "agent_hangup"
        grace = self.host.options.hangup_grace_s
        if (
            why == "caller_hangup"
            and self.state is CallState.ACTIVE
            and self._media_ready
            and grace > 0
            and self._tg is not None
            and self._life_task is not None
        ):
            if not self._winding_down:
                self._winding_down = True
                self._note_end(why, status)
                self._tg.create_task(self._wind_down(grace), name=f"call:{self.tag}:wind-down")
            return
        self.end(why, status)

    async def _wind_down(self, grace_s: float) -> None:
        """The caller hung up while we may be mid-reply: close our media first, so the speech loop
        sees the hang-up and stores the reply as far as it was played (cut off, issue 16 D9), and
        give the conversation ``grace_s`` to finish; then end every task of the call."""
        try:
            await self.endpoint.close()
        except Exception as exc:
            self.log.debug("closing media on hang-up: %r", exc)
        life = self._life_task
        if life is not None and not life.done():
            try:
                async with asyncio.timeout(grace_s):
                    await asyncio.shield(life)
            except (TimeoutError, asyncio.CancelledError, Exception):
                pass
        self.end(self._end_reason or "caller_hangup", self._end_status)

    def caller_gone_during_outage(self) -> None:
        """Reconcile found the caller no longer in our app: it ended while we could not hear it."""
        self.log.info("caller channel gone after the ARI outage; closing the call")
        self._caller_present = False
        self.end(
            "ended_during_ari_outage", CallStatus.TRANSFERRED if self._continued else CallStatus.COMPLETED
        )

    def on_own_event(self, channel_id: str, role: str, event: Event) -> None:
        if role == "media":
            if isinstance(event, StasisStart):
                if self._em_ready is not None and not self._em_ready.done():
                    self._em_ready.set_result(None)
            elif isinstance(event, StasisEnd | ChannelDestroyed):
                if not self._em_deleting and self.state not in FINAL_STATES:
                    self.log.error("externalMedia channel %s went away; ending the call", channel_id)
                    self.end("media_lost", CallStatus.FAILED)
        elif role == "desk":
            self._on_desk_event(event)

    def _on_desk_event(self, event: Event) -> None:
        if isinstance(event, StasisStart):
            self._desk_alive = True
            fut = self._desk_result
            if fut is not None and not fut.done():
                fut.set_result(TransferOutcome.CONNECTED)
        elif isinstance(event, ChannelHangupRequest | ChannelDestroyed):
            self._desk_gone(event.cause)
        elif isinstance(event, StasisEnd):
            self._desk_gone(None)

    def _desk_gone(self, cause: int | None) -> None:
        self._desk_alive = False
        fut = self._desk_result
        if fut is not None and not fut.done():
            if cause == 17:
                fut.set_result(TransferOutcome.BUSY)
            elif cause in (18, 19):
                fut.set_result(TransferOutcome.NO_ANSWER)
            else:
                fut.set_result(TransferOutcome.FAILED)
        if self.state is CallState.HANDED_OFF:
            self.log.info("desk hung up; ending the transferred call")
            self._handoff_done.set()
            self.end("desk_hangup", CallStatus.TRANSFERRED)

    def on_playback(self, event: PlaybackEvent) -> None:
        fut = self._playbacks.get(event.playback.id)
        if isinstance(event, PlaybackFinished) and fut is not None and not fut.done():
            fut.set_result(event.playback.state)

    async def on_reconnected(self, channel_ids: frozenset[str]) -> None:
        """After a WebSocket outage: settle what events we may have missed for this call."""
        em_wait = self._em_ready
        if em_wait is not None and not em_wait.done() and self.em_id in channel_ids:
            try:
                em = await self.client.get_channel(self.em_id)
            except AriError:
                pass
            else:
                if em.dialplan.app_name == "Stasis" and not em_wait.done():
                    em_wait.set_result(None)  # its StasisStart came while we could not hear it
        for playback_id, fut in list(self._playbacks.items()):
            if fut.done():
                continue
            try:
                playback = await self.client.get_playback(playback_id)
            except AriNotFound:
                fut.set_result("done")  # finished while we were away
            except AriError:
                continue
            else:
                if playback.state in ("done", "failed") and not fut.done():
                    fut.set_result(playback.state)
        if self.desk_id is not None and self._desk_alive and self.desk_id not in channel_ids:
            self._desk_gone(16)

    # ------------------------------------------------------------------------------------------
    # CallControl

    def _require_live(self) -> None:
        if not self._caller_present or self.state in FINAL_STATES:
            raise CallGone(f"call {self.tag}: the caller has left")

    async def _caller_op(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except AriNotFound as exc:
            self._caller_present = False
            raise CallGone(f"call {self.tag}: caller channel gone ({exc})") from exc

    async def _play_and_wait(self, channel_id: str, media: str) -> str:
        playback_id = f"{OWN_ID_PREFIX}pb-{uuid.uuid4().hex}"
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._playbacks[playback_id] = fut
        self.host.claim_playback(playback_id, self)
        try:
            await self.client.play(channel_id, media, playback_id=playback_id)
            return await fut
        finally:
            self._playbacks.pop(playback_id, None)
            self.host.release_playback(playback_id)

    async def play_sound(self, media: str) -> None:
        """Play an Asterisk sound (``sound:…``, ``recording:…``, ``digits:…``) to the caller; returns
        when it has finished. Asterisk mutes the externalMedia stream while it plays."""
        self._require_live()
        state = await self._caller_op(self._play_and_wait(self.channel_id, media))
        if state == "failed":
            if not self._caller_present:
                raise CallGone(f"call {self.tag}: caller hung up during playback")
            self.log.warning("playback of %s failed", media)

    async def start_hold_music(self, moh_class: str = "default") -> None:
        self._require_live()
        self.media.flush()
        await self._caller_op(self.client.start_moh(self.channel_id, moh_class))
        self.on_hold = True

    async def stop_hold_music(self) -> None:
        self._require_live()
        await self._caller_op(self.client.stop_moh(self.channel_id))
        self.on_hold = False

    async def set_variable(self, name: str, value: str) -> None:
        self._require_live()
        await self._caller_op(self.client.set_variable(self.channel_id, name, value))

    async def hangup(self, cause: str = "normal") -> None:
        """Hang the caller up (``DELETE /channels/{id}?reason=cause``); the call then ends."""
        self._require_live()
        self._note_end("agent_hangup", CallStatus.COMPLETED)
        await self._hangup_caller(cause)
        self.end("agent_hangup", CallStatus.COMPLETED)

    async def _hangup_caller(self, reason: str) -> None:
        self._hangup_requested = True
        try:
            await self.client.hangup(self.channel_id, reason=reason)
        except AriNotFound:
            pass
        self._caller_present = False

    async def transfer(self, extension: str, context: str | None = None) -> None:
        """Blind transfer: take the caller out of our bridge and hand it to the dialplan."""
        self._require_live()
        self.life.advance(CallState.TRANSFERRING)
        self.media.flush()
        try:
            await self._stop_fallback()  # TIMEOUT(absolute) stays on a continued channel: clear it
            if self.bridge_id is not None:
                await self._caller_op(self.client.remove_channel(self.bridge_id, [self.channel_id]))
            self._transfer_target = (extension, context or str(self.channel.dialplan.context))
            self._continued = True
            await self._caller_op(
                self.client.continue_in_dialplan(
                    self.channel_id, context=context, extension=extension, priority=1
                )
            )
        except AriError as exc:
            self._continued = False
            self.log.error(
                "transfer to %s@%s failed: %s; caller stays with us", extension, context or "(current)", exc
            )
            if self.bridge_id is not None:
                try:
                    await self.client.add_channel(self.bridge_id, [self.channel_id])
                except AriError:
                    pass
            self.life.advance(CallState.ACTIVE)
            raise TransferFailed(str(exc)) from exc
        self.log.info("caller handed to the dialplan at %s@%s", extension, context or "(current context)")
        self.end(f"transferred: {extension}", CallStatus.TRANSFERRED)

    async def announced_transfer(
        self,
        extension: str,
        *,
        briefing: Sequence[str] = (),
        answer_timeout_s: float | None = None,
        fallback_media: str | None = None,
        moh_class: str = "default",
    ) -> TransferOutcome:
        """Put the caller on hold, call the desk into our app, play it ``briefing`` (sound URIs), then
        bridge desk and caller and step out. Busy / no answer / failure within ``answer_timeout_s``:
        back to the caller (``fallback_media`` played, if given) and the outcome is returned."""
        self._require_live()
        timeout = answer_timeout_s or self.host.options.transfer_answer_timeout_s
        self.life.advance(CallState.TRANSFERRING)
        self.media.flush()
        await self._caller_op(self.client.start_moh(self.channel_id, moh_class))
        self.on_hold = True
        self._generation += 1
        desk_id = f"{OWN_ID_PREFIX}desk-{self.session_id}-{self._generation}{uuid.uuid4().hex[:6]}"
        self.desk_id = desk_id
        self._desk_result = asyncio.get_running_loop().create_future()
        self.host.claim_channel(desk_id, self, "desk")
        outcome = TransferOutcome.FAILED
        try:
            await self.client.originate(
                self.host.options.desk_endpoint.format(extension=extension),
                app=self.host.app,
                app_args=f"desk,{self.session_id}",
                caller_id=self.channel.caller.number or None,
                timeout_s=max(1, math.ceil(timeout)),
                channel_id=desk_id,
            )
            try:
                async with asyncio.timeout(timeout + 2.0):
                    outcome = await self._desk_result
            except TimeoutError:
                outcome = TransferOutcome.NO_ANSWER
            if outcome is TransferOutcome.CONNECTED:
                for media in briefing:
                    if not self._desk_alive:
                        break
                    await self._play_and_wait(desk_id, media)
                if not self._desk_alive:
                    outcome = TransferOutcome.FAILED
        except AriError as exc:
            self.log.error("announced transfer to %s: %s", extension, exc)
            outcome = TransferOutcome.FAILED
        if outcome is TransferOutcome.CONNECTED:
            self._require_live()
            await self._caller_op(self.client.stop_moh(self.channel_id))
            self.on_hold = False
            assert self.bridge_id is not None
            await self.client.add_channel(self.bridge_id, [desk_id])
            await self._stop_fallback()  # the caller is with the desk now, not with us
            await self._drop_media()
            self.life.advance(CallState.HANDED_OFF)
            self.log.info("caller handed to desk %s (%s)", extension, desk_id)
            return outcome
        self.log.info("announced transfer to %s: %s; back to the caller", extension, outcome.value)
        if self._desk_alive or outcome is TransferOutcome.NO_ANSWER:
            try:
                await self.client.hangup(desk_id)
            except AriError:
                pass
        self._desk_alive = False
        self.host.release_channel(desk_id)
        self.desk_id = None
        self._require_live()
        await self._caller_op(self.client.stop_moh(self.channel_id))
        self.on_hold = False
        self.life.advance(CallState.ACTIVE)
        if fallback_media:
            await self.play_sound(fallback_media)
        return outcome

    async def _transfer_outcome(self, status: str, reason: str) -> tuple[str, str]:
        """Did the dialplan take the caller? Asterisk answers continueInDialplan with 204 whatever
        the target; a context or extension that does not exist gets the channel hung up by the PBX
        right after StasisEnd (or sent to ``i``), with no event for us. So look at the channel once
        the PBX has had a moment."""
        extension, context = self._transfer_target or ("", "")
        await asyncio.sleep(self.host.options.transfer_settle_s)
        try:
            channel = await self.client.get_channel(self.channel_id)
        except AriNotFound:
            self.log.error(
                "transfer to %s@%s failed: the channel was hung up at once (no such context or "
                "extension in the dialplan?)",
                extension,
                context,
            )
            return CallStatus.FAILED, f"transfer_failed: {extension}@{context}"
        except AriError as exc:
            self.log.warning("transfer to %s@%s: cannot check the channel: %s", extension, context, exc)
            return status, reason
        if channel.dialplan.exten == "i":
            self.log.error("transfer to %s@%s failed: invalid extension", extension, context)
            return CallStatus.FAILED, f"transfer_failed: {extension}@{context}"
        self.log.info("caller transferred to %s@%s", extension, context)
        return status, reason

    # ------------------------------------------------------------------------------------------
    # a caller who vanished without a BYE

    def _media_paused(self) -> bool:
        """While Asterisk plays to the caller (its playbacks mute the externalMedia stream, as the
        records show), holds them, or the caller is elsewhere, no RTP is expected."""
        return bool(self._playbacks) or self.on_hold or self.state is not CallState.ACTIVE

    async def _watch_media(self, timeout_s: float) -> None:
        """No RTP at all from Asterisk for ``timeout_s``: the caller sends none (a SIP phone that
        died without a BYE, or one that never sent audio). Asterisk's simple bridge forwards only
        the frames it gets, so nothing reaches our port; and the SIP channel stays up unless its
        endpoint has ``rtp_timeout``. End the call with reason ``media_timeout``."""
        clock = self.host.options.clock
        last_count = -1
        last_change = clock()
        while True:
            await asyncio.sleep(min(1.0, timeout_s / 4))
            stats = getattr(self.endpoint, "stats", None)
            count = getattr(stats, "packets_in", None)
            if not isinstance(count, int):
                return  # an endpoint that cannot tell
            now = clock()
            if count != last_count or self._media_paused():
                last_count, last_change = count, now
                continue
            if now - last_change >= timeout_s:
                self.log.warning(
                    "no RTP from Asterisk for %.0f s (%d packet(s) in all): the caller is gone; ending the call",
                    now - last_change,
                    count,
                )
                self.end("media_timeout", CallStatus.ABANDONED)
                return

    def note_end_reason(self, reason: str) -> None:
        """Name why the call is about to end (a call limit) before the hang-up that ends it."""
        self._note_end(reason, CallStatus.COMPLETED)

    # ------------------------------------------------------------------------------------------
    # the dead-man switch: if this service dies, Asterisk sends the caller to the front desk

    def _start_fallback(self) -> None:
        seconds = self.settings.calls.fallback_timeout_s
        if seconds > 0 and self._fallback_task is None:
            self._fallback_task = self.spawn(self._keep_fallback(seconds), "fallback-timeout")

    async def _keep_fallback(self, seconds: float) -> None:
        """Keep ``TIMEOUT(absolute)`` a little in the future on the caller and on our externalMedia
        channel. A channel in Stasis stays there when the app's WebSocket goes away, so without
        this a caller of a dead service sits in silence; with it, once we stop refreshing, Asterisk
        ends Stasis and runs the dialplan's ``T`` extension (the front desk), and the
        externalMedia channel is destroyed."""
        value = str(max(1, math.ceil(seconds)))
        while True:
            for cid in (self.channel_id, self.em_id):
                if cid is None:
                    continue
                try:
                    await self.client.set_variable(cid, "TIMEOUT(absolute)", value)
                except AriError as exc:
                    self.log.debug("TIMEOUT(absolute) on %s: %s", cid, exc)
            await asyncio.sleep(max(0.05, seconds / 3))

    async def _stop_fallback(self) -> None:
        task = self._fallback_task
        self._fallback_task = None
        if task is None:
            return
        task.cancel()
        try:
            await self.client.set_variable(self.channel_id, "TIMEOUT(absolute)", "0")
        except AriNotFound:
            pass
        except AriError as exc:
            self.log.warning("could not clear TIMEOUT(absolute): %s", exc)

    async def _drop_media(self) -> None:
        """Our part of the bridge goes: close the endpoint and delete our externalMedia channel."""
        self._em_deleting = True
        await self.endpoint.close()
        if self.em_id is not None:
            try:
                await self.client.hangup(self.em_id)
            except AriNotFound:
                pass
            self.host.release_channel(self.em_id)
            self.em_id = None

    # ------------------------------------------------------------------------------------------
    # teardown

    async def _quietly(self, what: str, coro: Awaitable[Any]) -> None:
        try:
            async with asyncio.timeout(self.host.options.teardown_timeout_s):
                await coro
        except AriNotFound:
            pass
        except (AriError, TimeoutError) as exc:
            self.log.warning("teardown: %s failed: %s", what, exc)
        except Exception as exc:
            self.log.exception("teardown: %s failed: %r", what, exc)

    async def _teardown(self) -> None:
        if self.state is CallState.ENDED:
            return
        if self.state is not CallState.ENDING:
            self.life.advance(CallState.ENDING)
        reason = self._end_reason or "ended"
        status = self._end_status or CallStatus.COMPLETED
        self._em_deleting = True
        for fut in (self._em_ready, self._desk_result, *self._playbacks.values()):
            if fut is not None and not fut.done():
                fut.cancel()
        if self._media_ready:
            await self._quietly("closing the media endpoint", self.endpoint.close())
        if self._caller_present and not self._hangup_requested and not self._continued:
            if self._setup_failed and self.host.options.on_setup_failure == "continue":
                await self._quietly(
                    "handing the caller back to the dialplan",
                    self.client.continue_in_dialplan(self.channel_id),
                )
            else:
                reason_q = self.host.options.shutdown_hangup_reason
                await self._quietly(
                    "hanging up the caller", self.client.hangup(self.channel_id, reason=reason_q)
                )
            self._caller_present = False
        if self.desk_id is not None:  # ringing or talking: either way it must not outlive the call
            await self._quietly("hanging up the desk leg", self.client.hangup(self.desk_id))
        if self.em_id is not None:
            await self._quietly("deleting the externalMedia channel", self.client.hangup(self.em_id))
        if self.bridge_id is not None:
            await self._quietly("destroying the bridge", self.client.destroy_bridge(self.bridge_id))
        if self._continued and self._transfer_target is not None:
            status, reason = await self._transfer_outcome(status, reason)
        if self.row_id is not None:
            await self._quietly(
                "closing the call row", self.store.close_call(self.row_id, status, reason[:64])
            )
        for cid in (self.em_id, self.desk_id):
            if cid is not None:
                self.host.release_channel(cid)
        self.life.advance(CallState.ENDED)
        self.log.info("call ended: %s (%s)", reason, status)
        self.row_settled.set()
        self.finished.set()
        self.host.call_finished(self)
