"""One browser call: the conversation's ``CallSession`` without Asterisk.

The conversation (``ari_app.conversation``) sees a browser caller exactly as it sees a phone
caller: ``media`` gives and takes 20 ms frames (:class:`~ari_app.webrtc.media.WebRtcMedia`),
``dtmf`` receives the page's keypad digits, ``control`` carries out hang-up, hold and transfer, and
``store`` writes the same rows. The store is wrapped so every stored turn is also pushed to the page
as the live transcript, masked the same way it is masked in the database.

Like the ARI ``Call``, every task of the call lives in one ``TaskGroup`` and ending the call (for
whatever reason: hang-up on either side, ICE failure, idle or duration limit) cancels them all,
then tears down in one order: media, peer connection, call row, page notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from ari_app.logging_setup import call_id_var
from ari_app.privacy import mask_card_numbers
from ari_app.session import CallGone, CallInfo
from ari_app.webrtc import signalling
from ari_app.webrtc.media import WebRtcMedia
from ari_app.webrtc.signalling import Ice, SignallingError
from models.calls import CallStatus
from models.store import key_press_turn

if TYPE_CHECKING:
    from ari_app.media.clock import MediaClock
    from ari_app.settings import Settings
    from models.store import CallStore

log = logging.getLogger("ari_app.webrtc")

CHANNEL = "webrtc"  # voice_calls.channel of every browser call
Conversation = Callable[[Any], Awaitable[None]]
Send = Callable[[str], Awaitable[None]]


class TranscriptStore:
    """The call store, with each stored turn also sent to the page (live transcript)."""

    def __init__(self, inner: CallStore, on_turn: Callable[[str, str, str], Awaitable[None]]) -> None:
        self._inner = inner
        self._on_turn = on_turn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def add_turn(self, call_id: int, role: str, content: str, **kwargs: Any) -> int:
        number: int = await self._inner.add_turn(call_id, role, content, **kwargs)
        if number and content:
            await self._on_turn(role, mask_card_numbers(content), str(kwargs.get("input_mode", "speech")))
        return number


def limit_reached(now: float, started: float, last_activity: float, idle_s: float, max_s: float) -> str | None:
    """Which safety limit (if any) ends the call at ``now``: pure, so tests need no waiting."""
    if now - started >= max_s:
        return "max_duration"
    if now - last_activity >= idle_s:
        return "idle_timeout"
    return None


class WebRtcCall:
    """A ``CallSession`` and ``CallControl`` over one aiortc peer connection."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: CallStore,
        conversation: Conversation,
        client: str,
        send: Send,
        clock: MediaClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        watch_interval_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.conversation = conversation
        self.client = client
        self._send = send
        self._monotonic = monotonic
        self._watch_interval_s = watch_interval_s
        self.session_id = uuid.uuid4().hex
        self.channel_id = f"webrtc-{self.session_id[:12]}"
        self.row_id: int | None = None
        self.media = WebRtcMedia(clock, monotonic=monotonic)
        self.control = self
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.store = TranscriptStore(store, self._push_turn)
        self.info = self._make_info()
        servers = [RTCIceServer(urls=url) for url in settings.webrtc.ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers or None))
        self.pc_open = True
        self.codec = ""
        self._remote_track: MediaStreamTrack | None = None
        self._connected = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._life: asyncio.Task[None] | None = None
        self._end_reason: str | None = None
        self._end_status: str | None = None
        self.muted = False
        self.on_hold = False
        self.variables: dict[str, str] = {}
        self.finished = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    def _make_info(self) -> CallInfo:
        return CallInfo(
            session_id=self.session_id,
            call_row_id=self.row_id or 0,
            channel_id=self.channel_id,
            caller_number="",  # a browser has no number; the dialog asks for one when it needs it
            caller_name="Web caller",
            called_number=CHANNEL,
            language=self.settings.speech.call_language(CHANNEL, ""),
            asterisk_server=CHANNEL,
            direction="inbound",
            stasis_args=(CHANNEL,),
        )

    @property
    def end_reason(self) -> str | None:
        return self._end_reason

    # ---- signalling ----------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Take the browser's offer and return our answer (raises :class:`SignallingError`)."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc raises ValueError, KeyError, AssertionError... on odd SDP
            raise SignallingError("bad_sdp", f"the offer could not be used: {exc or type(exc).__name__}") from exc
        if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
            raise SignallingError("bad_sdp", "the offer has no audio")
        self.pc.addTrack(self.media.track)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        local = self.pc.localDescription
        self.codec = signalling.answer_codec(local.sdp)
        self.media.set_out_rate(48000 if self.codec == "opus" else 8000)
        log.info("browser call %s from %s: codec %s", self.session_id[:8], self.client, self.codec)
        return str(local.sdp)

    async def add_ice(self, ice: Ice) -> None:
        if not ice.candidate:
            return
        try:
            cand = candidate_from_sdp(ice.candidate)
        except (AssertionError, ValueError, IndexError) as exc:
            raise SignallingError("bad_message", f"unreadable ICE candidate: {exc}") from exc
        cand.sdpMid = ice.sdp_mid
        cand.sdpMLineIndex = ice.sdp_mline_index if ice.sdp_mid is None else None
        if cand.sdpMid is None and cand.sdpMLineIndex is None:
            cand.sdpMLineIndex = 0
        await self.pc.addIceCandidate(cand)

    def keys(self, digits: str) -> None:
        """Keypad digits from the page: the same queue the ARI call fills from ChannelDtmfReceived."""
        self.media.note_activity()
        for digit in digits:
            if self.row_id is not None and self._tg is not None:
                # in the call's task group but outside ``spawn``: ending the call does not cancel
                # it, so a key that ends the call is written before teardown closes the row
                self._tg.create_task(
                    key_press_turn(self.store, self.row_id, digit), name=f"webrtc:{self.session_id[:8]}:store-key"
                )
            self.dtmf.put_nowait(digit)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.media.note_activity()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._remote_track is None:
            self._remote_track = track

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed") and self._tg is not None:
            self.end("media_lost" if state == "failed" else "caller_hangup",
                     CallStatus.FAILED if state == "failed" else CallStatus.COMPLETED)

    # ---- tasks ---------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if self._tg is None:
            coro.close()
            raise CallGone("the browser call has ended")
        task = self._tg.create_task(coro, name=f"webrtc:{self.session_id[:8]}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def end(self, reason: str, status: str | None = None) -> None:
        """End the call (idempotent): the first reason given is the one stored."""
        if self._end_reason is None:
            self._end_reason = reason
            self._end_status = status
        for task in list(self._tasks):
            task.cancel()
        if self._life is not None:
            self._life.cancel()

    async def run(self) -> None:
        """The whole call, after the answer was sent. Never raises (but its own cancellation)."""
        call_id_var.set(self.session_id)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._life = tg.create_task(self._live(), name=f"webrtc:{self.session_id[:8]}")
        except Exception as exc:
            log.exception("browser call task failed: %r", exc)
            self.end(f"task_error: {type(exc).__name__}", CallStatus.FAILED)
        finally:
            self._tg = None
            await self.teardown()

    async def _live(self) -> None:
        try:
            self.row_id = await self.store.open_call(
                session_id=self.session_id,
                channel_id=self.channel_id,
                channel_name=f"WebRTC/{self.client}",
                caller_name="Web caller",
                called_number=CHANNEL,
                direction="inbound",
                asterisk_server=CHANNEL,
                language=self.info.language,
                brain=self.settings.brain.mode,
            )
            await self.store.update_call(self.row_id, channel=CHANNEL)
            self.info = self._make_info()
            try:
                async with asyncio.timeout(self.settings.webrtc.signalling_timeout_s):
                    await self._connected.wait()
            except TimeoutError:
                self.end("ice_failed", CallStatus.FAILED)
                return
            await self.store.mark_answered(self.row_id)
            await self.media.start()
            track = self._remote_track
            if track is not None:
                self.spawn(self._pump(track), "audio-in")
            self.spawn(self._watchdog(), "limits")
            await self._notify(signalling.encode("state", state="connected", session=self.session_id))
            log.info("browser call %s connected (row %d)", self.session_id[:8], self.row_id)
            await self.conversation(self)
            self.end("conversation_finished", CallStatus.COMPLETED)
        except asyncio.CancelledError:
            if self._end_reason is None:
                raise
        except CallGone:
            self.end("caller_hangup", CallStatus.COMPLETED)
        except Exception as exc:
            log.exception("browser call failed: %r", exc)
            self.end(f"conversation_error: {type(exc).__name__}", CallStatus.FAILED)

    async def _pump(self, track: MediaStreamTrack) -> None:
        await self.media.pump(track)
        self.end("caller_hangup", CallStatus.COMPLETED)

    async def _watchdog(self) -> None:
        cfg = self.settings.webrtc
        started = self._monotonic()
        while True:
            await asyncio.sleep(self._watch_interval_s)
            activity = self.media.last_activity
            why = limit_reached(self._monotonic(), started, activity, cfg.idle_timeout_s, cfg.max_duration_s)
            if why is not None:
                log.info("browser call %s: %s", self.session_id[:8], why)
                await self._notify(signalling.encode("state", state="ending", reason=why))
                self.end(why, CallStatus.COMPLETED)
                return

    async def teardown(self, *, quiet: bool = False) -> None:
        """Release everything (idempotent); also for calls that never got past the answer
        (``quiet``: the page gets the refusal instead of an "ended" notice)."""
        if self.finished.is_set():
            return
        self.finished.set()
        for task in list(self._tasks):
            task.cancel()
        await self.media.close()
        await self.close_pc()
        reason = self._end_reason or "ended"
        status = self._end_status or CallStatus.COMPLETED
        if self.row_id is not None:
            try:
                await self.store.close_call(self.row_id, status, reason[:64])
            except Exception as exc:
                log.error("browser call %s: could not close the call row: %r", self.session_id[:8], exc)
        if not quiet:
            await self._notify(signalling.encode("state", state="ended", reason=reason))
        log.info("browser call %s ended: %s (%s)", self.session_id[:8], reason, status)

    async def close_pc(self) -> None:
        if self.pc_open:
            self.pc_open = False
            with contextlib.suppress(Exception):
                await self.pc.close()

    async def _notify(self, text: str) -> None:
        with contextlib.suppress(Exception):  # the page may be gone: the call's record matters more
            await self._send(text)

    async def _push_turn(self, role: str, text: str, mode: str) -> None:
        await self._notify(signalling.encode("transcript", role=role, text=text, mode=mode))

    # ---- CallControl -----------------------------------------------------------------------------

    def _require_live(self) -> None:
        if self._end_reason is not None or self.finished.is_set():
            raise CallGone("the browser caller has left")

    async def transfer(self, extension: str, context: str | None = None) -> None:
        """A browser cannot be handed to the PBX's dialplan: the page shows how to reach the desk."""
        self._require_live()
        self.media.flush()
        await self._notify(signalling.encode(
            "state", state="transfer", extension=extension,
            message="Please call the hotel's front desk by phone; a web call cannot be put through.",
        ))
        self.end(f"transfer_unavailable: {extension}", CallStatus.COMPLETED)
        raise CallGone("browser call ended at a transfer")

    async def start_hold_music(self, moh_class: str = "default") -> None:
        self._require_live()
        self.media.flush()
        self.on_hold = True
        await self._notify(signalling.encode("state", state="hold"))

    async def stop_hold_music(self) -> None:
        self._require_live()
        self.on_hold = False
        await self._notify(signalling.encode("state", state="connected", session=self.session_id))

    async def play_sound(self, media: str) -> None:
        self._require_live()
        log.info("browser call: Asterisk sound %s skipped (no PBX on this call)", media)

    async def hangup(self, cause: str = "normal") -> None:
        self._require_live()
        self.end("agent_hangup", CallStatus.COMPLETED)
        raise CallGone("the agent hung up")

    async def set_variable(self, name: str, value: str) -> None:
        self._require_live()
        self.variables[name] = value
