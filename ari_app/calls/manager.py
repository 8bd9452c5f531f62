"""CallManager: one per Asterisk server. Turns the ARI event stream into calls and keeps them honest.

* A ``StasisStart`` of a channel whose id we did not choose is a caller: a :class:`Call` is started
  for it. Channels we create (externalMedia, desk legs, outbound calls) are known by the ids we chose
  (never by name) and their events go to the call that made them.
* Events are dispatched in arrival order, synchronously; a call's work happens in its own tasks, all
  owned by this manager's task group, so one slow or failing call never holds up another.
* After every (re)connect of the events WebSocket the manager reconciles: it lists the channels and
  bridges in our application and ends calls whose caller left during the outage (row closed),
  re-adopts callers it has an open row for (after a restart), deletes leftovers of its own, and
  closes rows whose channel is gone.
* :meth:`drain` is the graceful stop: no new calls, live calls get a deadline, then the rest are
  ended; the WebSocket is closed last.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ari_app.ari.client import AriClient, StreamConnected, StreamDisconnected
from ari_app.ari.errors import AriError, AriNotFound
from ari_app.ari.events import (
    BridgeEvent,
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    PlaybackEvent,
    StasisStart,
    UnknownEvent,
    event_channel_id,
)
from ari_app.ari.models import Channel
from ari_app.calls.call import OWN_ID_PREFIX, Call, CallOptions, Conversation
from ari_app.calls.media import EndpointFactory
from ari_app.calls.state import FINAL_STATES
from models.calls import CallStatus

if TYPE_CHECKING:
    from ari_app.settings import AsteriskServer, Settings
    from models.store import CallStore

log = logging.getLogger("ari_app.calls.manager")


def _fell_back_to_desk(channel: Channel) -> bool:
    """A caller our dead-man TIMEOUT(absolute) sent to the dialplan's ``T`` extension: only a
    service that stopped refreshing it (dead) leaves a channel there."""
    return channel.dialplan.exten == "T"


@dataclass(frozen=True)
class OriginateResult:
    channel_id: str
    answered: bool
    cause: int | None = None
    call: Call | None = None


@dataclass
class _PendingOutbound:
    future: asyncio.Future[OriginateResult]
    called_number: str


@dataclass
class ManagerStats:
    calls_started: int = 0
    calls_refused_draining: int = 0
    calls_adopted: int = 0
    rows_closed_by_reconcile: int = 0
    stale_deleted: int = 0
    unknown_channel_events: int = 0
    ignored_events: int = 0
    reconciles: int = 0


class CallManager:
    def __init__(
        self,
        settings: Settings,
        server: AsteriskServer,
        store: CallStore,
        conversation_factory: Conversation,
        endpoint_factory: EndpointFactory,
        *,
        client: AriClient | None = None,
        options: CallOptions | None = None,
    ) -> None:
        self.settings = settings
        self.server = server
        self.server_name = server.name
        self.app = server.app_name
        self.store = store
        self.conversation = conversation_factory
        self.endpoint_factory = endpoint_factory
        self.client = client or AriClient.from_server(
            server, reconnect_max_s=settings.asterisk.reconnect_max_s
        )
        self.options = options or CallOptions()
        self.calls: dict[str, Call] = {}  # caller channel id -> call
        self._own: dict[str, tuple[Call, str]] = {}  # channel ids we chose -> (call, role)
        self._playbacks: dict[str, Call] = {}
        self._pending_out: dict[str, _PendingOutbound] = {}
        self._recent: deque[str] = deque(maxlen=4096)
        self._recent_set: set[str] = set()
        self._call_tasks: dict[Call, asyncio.Task[None]] = {}
        self._helpers: set[asyncio.Task[Any]] = set()
        self._tg: asyncio.TaskGroup | None = None
        self._draining = False
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.connected = asyncio.Event()
        self.reconciled = asyncio.Event()  # set after each reconcile; tests wait on it
        self.asterisk_version = ""
        self.stats = ManagerStats()

    # ------------------------------------------------------------------------------------------
    # CallHost

    def claim_channel(self, channel_id: str, call: Call, role: str) -> None:
        self._own[channel_id] = (call, role)

    def release_channel(self, channel_id: str) -> None:
        if self._own.pop(channel_id, None) is not None:
            self._remember(channel_id)

    def claim_playback(self, playback_id: str, call: Call) -> None:
        self._playbacks[playback_id] = call

    def release_playback(self, playback_id: str) -> None:
        self._playbacks.pop(playback_id, None)

    def call_finished(self, call: Call) -> None:
        if self.calls.get(call.channel_id) is call:
            del self.calls[call.channel_id]
        self._remember(call.channel_id)
        for cid, (owner, _role) in list(self._own.items()):
            if owner is call:
                self.release_channel(cid)
        for pid, owner in list(self._playbacks.items()):
            if owner is call:
                del self._playbacks[pid]
        if not self.calls:
            self._idle.set()

    def _remember(self, channel_id: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(channel_id)
        self._recent_set.add(channel_id)

    # ------------------------------------------------------------------------------------------
    # running

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        if self._tg is None:
            coro.close()
            return
        task = self._tg.create_task(coro, name=f"ari:{self.server_name}:{name}")
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _hello(self) -> bool:
        """GET /asterisk/info until Asterisk answers (transient errors back off; permanent raise).
        False if a stop came first."""
        while not self._stop.is_set():
            try:
                info = await self.client.asterisk_info()
            except AriError as exc:
                if not exc.transient:
                    log.error("Asterisk %s refused us: %s", self.server_name, exc)
                    raise
                delay = self.client.backoff.next_delay()
                log.warning(
                    "Asterisk %s not reachable (%s); retrying in %.1f s", self.server_name, exc, delay
                )
                try:
                    async with asyncio.timeout(delay):
                        await self._stop.wait()
                except TimeoutError:
                    pass
                continue
            self.asterisk_version = info.version
            log.info("Asterisk %s is version %s; app %r", self.server_name, info.version, self.app)
            return True
        return False

    async def run(self) -> None:
        """Serve calls until :meth:`drain`/:meth:`stop`; raises a permanent ARI error (bad credentials,
        app refused) after ending the calls in hand."""
        if not await self._hello():
            return
        error: AriError | None = None
        crashed = False
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                if self._stop.is_set():
                    return
                async for item in self.client.events():
                    if isinstance(item, StreamConnected):
                        self.connected.set()
                        await self._reconcile(item)
                    elif isinstance(item, StreamDisconnected):
                        self.connected.clear()
                        self.reconciled.clear()
                    else:
                        self._dispatch(item)
            except AriError as exc:
                error = exc
            except Exception:
                crashed = True  # not a stop: the calls in hand did not complete (issue 18 L5)
                raise
            finally:
                self.connected.clear()
                for call in list(self.calls.values()):
                    if crashed:
                        call.end("service_error", CallStatus.FAILED)
                    else:
                        call.end("service_stopping", CallStatus.COMPLETED)
        self._tg = None
        if error is not None:
            raise error

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: refuse new calls, give live calls ``timeout_s``, end the rest, then close
        the events WebSocket (which makes :meth:`run` return)."""
        self._draining = True
        log.info("draining %s: %d live call(s), up to %g s", self.server_name, len(self.calls), timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            log.warning("drain deadline on %s: ending %d call(s)", self.server_name, len(self.calls))
            for call in list(self.calls.values()):
                call.end("shutdown", CallStatus.COMPLETED)
            try:
                async with asyncio.timeout(self.options.teardown_timeout_s * 3):
                    await self._idle.wait()
            except TimeoutError:
                log.error("calls on %s still tearing down; cancelling them", self.server_name)
                for task in self._call_tasks.values():
                    task.cancel()
        self._stop.set()
        await self.client.stop_events()

    async def stop(self) -> None:
        await self.drain(0)

    # ------------------------------------------------------------------------------------------
    # calls

    def _start_call(
        self,
        channel: Channel,
        *,
        args: tuple[str, ...] = (),
        direction: str = "inbound",
        called_number: str | None = None,
        adopt_row: Any = None,
    ) -> Call:
        call = Call(
            self,
            channel=channel,
            settings=self.settings,
            store=self.store,
            conversation=self.conversation,
            endpoint_factory=self.endpoint_factory,
            args=args,
            direction=direction,
            called_number=called_number,
            adopt_row=adopt_row,
        )
        self.calls[channel.id] = call
        self._idle.clear()
        self.stats.calls_started += 1
        assert self._tg is not None
        task = self._tg.create_task(self._run_call(call), name=f"call:{call.tag}")
        self._call_tasks[call] = task
        return call

    async def _run_call(self, call: Call) -> None:
        try:
            await call.run()
        except Exception:  # Call.run never raises; this is the last line of defence for the others
            call.log.exception("call crashed")
            self.call_finished(call)
        finally:
            self._call_tasks.pop(call, None)

    async def originate(
        self,
        endpoint: str,
        *,
        caller_id: str | None = None,
        timeout_s: int = 30,
        called_number: str = "",
        variables: Mapping[str, str] | None = None,
        app_args: str = "outbound",
    ) -> OriginateResult:
        """Call out (a callback) into our app; the answered call runs the conversation like any other."""
        channel_id = f"{OWN_ID_PREFIX}out-{uuid.uuid4().hex}"
        fut: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        self._pending_out[channel_id] = _PendingOutbound(fut, called_number or endpoint.split("/", 1)[-1])
        try:
            await self.client.originate(
                endpoint,
                app=self.app,
                app_args=app_args,
                caller_id=caller_id,
                timeout_s=timeout_s,
                channel_id=channel_id,
                variables=variables,
            )
            try:
                async with asyncio.timeout(timeout_s + 5):
                    return await fut
            except TimeoutError:
                log.warning(
                    "outbound call %s to %s: no answer and no end event; hanging up", channel_id, endpoint
                )
                try:
                    await self.client.hangup(channel_id)
                except AriError:
                    pass
                return OriginateResult(channel_id, answered=False)
        finally:
            self._pending_out.pop(channel_id, None)

    # ------------------------------------------------------------------------------------------
    # events

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, StasisStart):
            self._on_stasis_start(event)
            return
        if isinstance(event, PlaybackEvent):
            owner = self._playbacks.get(event.playback.id)
            if owner is not None:
                owner.on_playback(event)
            else:
                log.debug("%s for playback %s not ours", event.type, event.playback.id)
            return
        if isinstance(event, UnknownEvent):
            self.stats.ignored_events += 1
            log.debug("ignoring %s event (no model for it)", event.type)
            return
        if isinstance(event, BridgeEvent):
            log.debug("%s for bridge %s", event.type, event.bridge.id)
            return
        channel_id = event_channel_id(event)
        if channel_id is None:
            self.stats.ignored_events += 1
            log.debug("ignoring %s event about no channel", event.type)
            return
        call = self.calls.get(channel_id)
        if call is not None:
            call.on_caller_event(event)
            return
        owned = self._own.get(channel_id)
        if owned is not None:
            owned[0].on_own_event(channel_id, owned[1], event)
            return
        pending = self._pending_out.get(channel_id)
        if pending is not None:
            if isinstance(event, ChannelDestroyed | ChannelHangupRequest) and not pending.future.done():
                pending.future.set_result(OriginateResult(channel_id, answered=False, cause=event.cause))
            return
        if channel_id in self._recent_set:
            log.debug("%s for ended channel %s", event.type, channel_id)
            return
        self.stats.unknown_channel_events += 1
        log.info("%s event for unknown channel %s ignored", event.type, channel_id)

    def _on_stasis_start(self, event: StasisStart) -> None:
        channel = event.channel
        cid = channel.id
        owned = self._own.get(cid)
        if owned is not None:
            owned[0].on_own_event(cid, owned[1], event)  # our externalMedia / desk leg: not a call
            return
        if cid in self.calls:
            log.debug("StasisStart for %s, already a call (adopted at reconnect)", cid)
            return
        pending = self._pending_out.pop(cid, None)
        if pending is not None:
            call = self._start_call(
                channel, args=event.args, direction="outbound", called_number=pending.called_number
            )
            if not pending.future.done():
                pending.future.set_result(OriginateResult(cid, answered=True, call=call))
            return
        if cid.startswith(OWN_ID_PREFIX):
            log.warning("channel %s was made by an earlier run of this service; hanging it up", cid)
            self.stats.stale_deleted += 1
            self._spawn(self._quiet_hangup(cid), f"stale:{cid}")
            return
        if self._draining:
            log.info("draining: refusing new call %s (%s)", cid, channel.caller.number)
            self.stats.calls_refused_draining += 1
            self._spawn(self._quiet_hangup(cid, self.options.drain_new_call_reason), f"refuse:{cid}")
            return
        self._start_call(channel, args=event.args)

    async def _quiet_hangup(self, channel_id: str, reason: str | None = None) -> None:
        try:
            await self.client.hangup(channel_id, reason=reason)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("could not hang up %s: %s", channel_id, exc)

    # ------------------------------------------------------------------------------------------
    # reconcile

    async def _reconcile(self, item: StreamConnected) -> None:
        self.stats.reconciles += 1
        try:
            app = await self.client.get_application()
        except AriError as exc:
            log.error("reconcile on %s: cannot read app %r: %s", self.server_name, self.app, exc)
            self.reconciled.set()
            return
        present = frozenset(app.channel_ids)
        if not item.first:
            log.info("reconciling %s after reconnect: %d channel(s) in app", self.server_name, len(present))
        # 1. our calls: the caller still there (carry on, settle missed events) or gone during the outage
        for call in list(self.calls.values()):
            if call.state in FINAL_STATES:
                continue
            if call.channel_id not in present:
                call.caller_gone_during_outage()
            else:
                await call.on_reconnected(present)
        # 2. bridges in our app that no live call owns
        owned_bridges = {c.bridge_id for c in self.calls.values() if c.bridge_id}
        for bridge_id in app.bridge_ids:
            if bridge_id not in owned_bridges:
                log.warning("reconcile: bridge %s belongs to no live call; destroying it", bridge_id)
                self.stats.stale_deleted += 1
                try:
                    await self.client.destroy_bridge(bridge_id)
                except AriError as exc:
                    log.warning("reconcile: destroying bridge %s: %s", bridge_id, exc)
        # 3. leftovers of ours (ids we chose, no live call owns them) go first, then unknown callers
        unknown = []
        for cid in app.channel_ids:
            if cid in self.calls or cid in self._own or cid in self._pending_out:
                continue
            if cid.startswith(OWN_ID_PREFIX):
                log.warning("reconcile: channel %s is a leftover of ours; hanging it up", cid)
                self.stats.stale_deleted += 1
                await self._quiet_hangup(cid)
            else:
                unknown.append(cid)
        for cid in unknown:
            try:
                channel = await self.client.get_channel(cid)
            except AriError as exc:
                log.info("reconcile: channel %s: %s", cid, exc)
                continue
            row = await self.store.find_active_by_channel(cid, self.server_name)
            if self._draining:
                await self._quiet_hangup(cid, self.options.drain_new_call_reason)
            elif row is not None:
                log.info("reconcile: re-adopting call row %d on channel %s", row.id, cid)
                self.stats.calls_adopted += 1
                self._start_call(
                    channel, direction=row.direction, called_number=row.called_number, adopt_row=row
                )
            else:
                log.info(
                    "reconcile: channel %s is in Stasis with no call (StasisStart missed); taking it", cid
                )
                self.stats.calls_adopted += 1
                self._start_call(channel)
        # 4. rows still open for channels that are gone
        try:
            rows = await self.store.active_calls(self.server_name)
        except Exception as exc:
            log.error("reconcile: cannot read open call rows: %r", exc)
            rows = []
        candidates = [r for r in rows if r.channel_id not in present and r.channel_id not in self.calls]
        if candidates:
            # another process may serve another app on this Asterisk: only close rows whose channel
            # exists nowhere on the server
            try:
                alive = {c.id: c for c in await self.client.list_channels()}
            except AriError as exc:
                log.warning(
                    "reconcile: cannot list channels (%s); leaving %d row(s) open", exc, len(candidates)
                )
                candidates = []
                alive = {}
            for row in candidates:
                found = alive.get(row.channel_id)
                if found is not None and not _fell_back_to_desk(found):
                    continue  # alive elsewhere (another app, another process): not ours to close
                # the service lost this call (crash, kill): not a completed call (issue 18 L5); it
                # ended no later than its last sign of life, not at this restart (issue 16 D11)
                if found is not None:
                    reason = "service_lost: sent to the front desk"
                    log.info(
                        "reconcile: call row %d: channel %s went to the dialplan's T extension while "
                        "we were away (the dead-man timeout); closing the row",
                        row.id,
                        row.channel_id,
                    )
                else:
                    reason = "ended_while_disconnected"
                    log.info(
                        "reconcile: call row %d (channel %s) ended while we were away; closing it",
                        row.id,
                        row.channel_id,
                    )
                self.stats.rows_closed_by_reconcile += 1
                try:
                    ended_at = await self.store.last_activity(row.id)
                except Exception as exc:
                    log.warning("reconcile: last activity of row %d: %r", row.id, exc)
                    ended_at = None
                await self.store.close_call(row.id, CallStatus.FAILED, reason, ended_at=ended_at)
        self.reconciled.set()
