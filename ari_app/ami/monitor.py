"""A read-mostly AMI client that watches the PBX for the dashboard, /health and /metrics.

Why not panoramisk's ``Manager``: it works on 3.11, but it schedules its reconnects and pings with
``call_later``/``ensure_future`` on its own (tasks nobody owns or awaits), reconnects at a fixed
interval without backoff, and hides the login error behind a callback. The part we need is small:
a banner, a login, a few list actions and event bookkeeping. So this is a thin asyncio client over
the sans-I/O parser in :mod:`ari_app.ami.protocol`; ``run()`` owns every task it starts.

Nothing in a call depends on this monitor: if AMI is down, ``health()`` says so and calls go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ari_app.ami.protocol import (
    AmiAuthError,
    AmiConnectionError,
    AmiError,
    AmiMessage,
    AmiParser,
    AmiProtocolError,
    build_action,
)
from ari_app.logthrottle import OutageLog

log = logging.getLogger(__name__)

_LISTS = {
    # action -> (item event, complete event, which part of the state it replaces)
    "CoreShowChannels": ("CoreShowChannel", "CoreShowChannelsComplete", "channels"),
    "PJSIPShowRegistrationsOutbound": ("OutboundRegistrationDetail", "OutboundRegistrationDetailComplete", "registrations"),
    "PJSIPShowContacts": ("ContactList", "ContactListComplete", "contacts"),
    "PJSIPShowEndpoints": ("EndpointList", "EndpointListComplete", "endpoints"),
}

# Device-state "devices" that are channels of ours or of Asterisk's plumbing, not phones or trunks.
# Real Asterisk raises DeviceStateChange for every UnicastRTP/… externalMedia leg; kept, they pile up
# as ``UNKNOWN`` entries for ever (one per call).
_NOT_A_DEVICE = ("UnicastRTP/", "Local/", "Stasis/", "WebSocket/", "Snoop/", "Recorder/", "Announcer/",
                 "CBAnn/", "CBRec/", "Message/", "Bridge/", "Surrogate/")
_GONE_DEVICE_STATES = frozenset({"INVALID", "UNKNOWN"})


def endpoint_name(peer_or_device: str) -> str:
    """``PJSIP/trunk`` and ``trunk`` name the same endpoint: AMI lists use the bare name, events the tech."""
    return peer_or_device.split("/", 1)[1] if peer_or_device.startswith("PJSIP/") else peer_or_device


def _refused_hint(action: str) -> str:
    # PJSIPShow* list actions need read/write class "system" (the monitor asks, it changes nothing).
    return f"grant the AMI user 'system' in manager.conf (read and write) so {action} is allowed"


@dataclass
class _PendingList:
    action: str
    items: list[AmiMessage] = field(default_factory=list)
    done: asyncio.Future[list[AmiMessage]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AmiMonitor:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval_s: float = 20.0,
        poll_interval_s: float = 60.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        reply_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.ping_interval_s = ping_interval_s
        self.poll_interval_s = poll_interval_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.clock = clock
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._responses: dict[str, asyncio.Future[AmiMessage]] = {}
        self._lists: dict[str, _PendingList] = {}
        self._stopping = asyncio.Event()
        self._outage = OutageLog(log, f"AMI {host}:{port}", clock=clock)
        # What health() reports.
        self.connected = False
        self.logged_in = False
        self.fully_booted = False
        self.banner: str | None = None
        self.last_error: str | None = None
        self.connects = 0
        self.reconnects = 0
        self.events_seen = 0
        self.last_event_at: float | None = None
        self.channels: dict[str, str] = {}  # Uniqueid -> channel name
        self.registrations: dict[str, str] = {}  # outbound registration -> status
        self.contacts: dict[str, str] = {}  # contact URI -> status
        self.contact_endpoints: dict[str, str] = {}  # contact URI -> endpoint name
        self.devices: dict[str, str] = {}  # device (PJSIP/guest) -> state
        self.endpoints: dict[str, str] = {}  # endpoint name (trunk, frontdesk1) -> device state or peer status
        self.refused: dict[str, str] = {}  # list action -> why Asterisk refused it (e.g. Permission denied)

    @classmethod
    def from_settings(cls, asterisk: Any, ivr: Any = None) -> AmiMonitor:
        return cls(
            asterisk.ami_host,
            asterisk.ami_port,
            asterisk.ami_user,
            asterisk.ami_password.get_secret_value(),
            ping_interval_s=getattr(ivr, "ami_ping_interval_s", 20.0),
            poll_interval_s=getattr(ivr, "ami_poll_interval_s", 60.0),
            reconnect_max_s=asterisk.reconnect_max_s,
        )

    # ---------------------------------------------------------------------------------- summary

    def health(self) -> dict[str, Any]:
        """A JSON-able summary for /health and /metrics; valid whether or not AMI is reachable."""
        age = None if self.last_event_at is None else round(self.clock() - self.last_event_at, 3)
        return {
            "connected": self.connected,
            "logged_in": self.logged_in,
            "fully_booted": self.fully_booted,
            "banner": self.banner,
            "active_channels": len(self.channels),
            "channels": sorted(self.channels.values()),
            "registrations": dict(self.registrations),
            "trunks_registered": self.trunks_registered(),
            "contacts": dict(self.contacts),
            "contact_endpoints": dict(self.contact_endpoints),
            "devices": dict(self.devices),
            "endpoints": dict(self.endpoints),
            "refused_actions": dict(self.refused),
            "reconnects": self.reconnects,
            "events_seen": self.events_seen,
            "last_event_age_s": age,
            "last_error": self.last_error,
        }

    def trunks_registered(self) -> bool | None:
        """True/False once AMI has told us of at least one outbound registration; None while unknown.

        "Registered" must never be claimed from no knowledge: before a login, or on a site whose trunk
        authenticates by IP (Twilio Elastic SIP, most carriers) and so has no registration at all.
        """
        if not self.logged_in or not self.registrations:
            return None
        return all(s.lower() == "registered" for s in self.registrations.values())

    # ------------------------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Connect, watch, reconnect with exponential backoff until :meth:`stop`."""
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._session()
                failures = 0
            except AmiAuthError as exc:
                self.last_error = str(exc)
                log.error("AMI login to %s:%d refused: %s", self.host, self.port, exc)
                failures = max(failures, 10)  # wrong credentials: retry, but slowly
            except (OSError, TimeoutError, AmiError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                failures += 1
            finally:
                self._drop_connection()
            if self._stopping.is_set():
                break
            delay = min(self.reconnect_max_s, self.reconnect_min_s * 2 ** max(0, failures - 1))
            if failures and self.last_error is not None:
                self._outage.failed(self.last_error, retry_in_s=delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            self.reconnects += 1

    async def stop(self) -> None:
        """Ask ``run()`` to end: log off politely if connected, then close."""
        self._stopping.set()
        if self._writer is not None and self.logged_in:
            with contextlib.suppress(Exception):
                self._writer.write(build_action("Logoff", f"logoff-{next(self._ids)}"))
        if self._writer is not None:
            self._writer.close()

    # ------------------------------------------------------------------------------ internals

    def _drop_connection(self) -> None:
        self.connected = False
        self.logged_in = False
        for fut in self._responses.values():
            if not fut.done():
                fut.set_exception(AmiConnectionError("connection lost"))
        for pending in self._lists.values():
            if not pending.done.done():
                pending.done.set_exception(AmiConnectionError("connection lost"))
        self._responses.clear()
        self._lists.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _session(self) -> None:
        async with asyncio.timeout(self.connect_timeout_s):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        self.connected = True
        self.connects += 1
        parser = AmiParser()
        async with asyncio.timeout(self.connect_timeout_s):
            while parser.banner is None:
                chunk = await reader.read(4096)
                if not chunk:
                    raise AmiConnectionError("closed before the banner")
                backlog = parser.feed(chunk)
        self.banner = parser.banner
        tasks = [
            asyncio.create_task(self._read_loop(reader, parser, backlog), name="ami-reader"),
            asyncio.create_task(self._tick_loop(), name="ami-ticker"),
            asyncio.create_task(self._stopping.wait(), name="ami-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _read_loop(self, reader: asyncio.StreamReader, parser: AmiParser, backlog: list[AmiMessage]) -> None:
        for msg in backlog:
            self._dispatch(msg)
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                raise AmiConnectionError("Asterisk closed the AMI connection")
            for msg in parser.feed(chunk):
                self._dispatch(msg)

    async def _tick_loop(self) -> None:
        await self._login()
        await self.refresh()
        next_ping = self.clock() + self.ping_interval_s
        next_poll = self.clock() + self.poll_interval_s
        while True:
            wait = max(0.0, min(next_ping, next_poll) - self.clock())
            await asyncio.sleep(wait)
            now = self.clock()
            if now >= next_ping:
                reply = await self.action("Ping")
                if reply.response.lower() != "success":
                    raise AmiConnectionError(f"Ping answered {reply.response}")
                next_ping = now + self.ping_interval_s
            if now >= next_poll:
                await self.refresh_channels()
                next_poll = now + self.poll_interval_s

    async def _login(self) -> None:
        reply = await self.action("Login", {"Username": self.username, "Secret": self._secret, "Events": "on"})
        if reply.response.lower() != "success":
            raise AmiAuthError(reply.get("Message") or reply.response or "login refused")
        self.logged_in = True
        self.last_error = None
        self._outage.recovered()
        log.info("AMI logged in to %s:%d (%s)", self.host, self.port, self.banner)

    def _send(self, action: str, action_id: str, fields: dict[str, str] | None = None) -> None:
        if self._writer is None:
            raise AmiConnectionError("not connected")
        self._writer.write(build_action(action, action_id, fields))

    async def action(self, action: str, fields: dict[str, str] | None = None) -> AmiMessage:
        """Send one action and wait for its ``Response``."""
        action_id = f"{action.lower()}-{next(self._ids)}"
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = fut
        try:
            self._send(action, action_id, fields)
            async with asyncio.timeout(self.reply_timeout_s):
                return await fut
        finally:
            self._responses.pop(action_id, None)

    async def list_action(self, action: str) -> list[AmiMessage]:
        """Send a list action (``EventList: start`` … ``…Complete``) and return its items."""
        action_id = f"{action.lower()}-{next(self._ids)}"
        pending = _PendingList(action)
        self._lists[action_id] = pending
        try:
            self._send(action, action_id)
            async with asyncio.timeout(self.reply_timeout_s):
                return await pending.done
        finally:
            self._lists.pop(action_id, None)

    async def refresh_channels(self) -> None:
        items = await self.list_action("CoreShowChannels")
        self.channels = {m.get("Uniqueid") or m.get("Channel"): m.get("Channel") for m in items}

    async def refresh(self) -> None:
        """Re-read channels, outbound registrations, contacts and endpoints (after login and on demand)."""
        for action in ("CoreShowChannels", "PJSIPShowRegistrationsOutbound", "PJSIPShowContacts", "PJSIPShowEndpoints"):
            try:
                items = await self.list_action(action)
            except AmiCommandError as exc:
                reason = str(exc)
                if "permission" in reason.lower():
                    if action not in self.refused:
                        log.warning("AMI %s refused (%s): %s", action, reason, _refused_hint(action))
                else:
                    log.info("AMI %s not available: %s", action, reason)
                self.refused[action] = reason
                continue
            self.refused.pop(action, None)
            if action == "CoreShowChannels":
                self.channels = {m.get("Uniqueid") or m.get("Channel"): m.get("Channel") for m in items}
            elif action == "PJSIPShowRegistrationsOutbound":
                self.registrations = {m.get("ObjectName"): m.get("Status") for m in items}
            elif action == "PJSIPShowContacts":
                self.contacts = {m.get("Uri") or m.get("ObjectName"): m.get("Status") for m in items}
                self.contact_endpoints = {
                    m.get("Uri") or m.get("ObjectName"): m.get("Endpoint") for m in items if m.get("Endpoint")
                }
            else:
                self.endpoints = {m.get("ObjectName"): m.get("DeviceState") for m in items if m.get("ObjectName")}

    def _dispatch(self, msg: AmiMessage) -> None:
        action_id = msg.action_id
        if "Response" in msg:
            pending = self._lists.get(action_id)
            if pending is not None:
                if msg.response.lower() != "success":
                    pending.done.set_exception(AmiCommandError(msg.get("Message") or msg.response))
                return
            fut = self._responses.get(action_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        if not msg.event:
            raise AmiProtocolError(f"AMI message is neither response nor event: {msg.as_dict()}")
        self.events_seen += 1
        self.last_event_at = self.clock()
        pending = self._lists.get(action_id) if action_id else None
        if pending is not None:
            item, complete, _ = _LISTS[pending.action]
            if msg.event == complete:
                if not pending.done.done():
                    pending.done.set_result(pending.items)
            elif msg.event == item:
                pending.items.append(msg)
            return
        self._on_event(msg)

    def _on_event(self, msg: AmiMessage) -> None:
        name = msg.event
        if name == "FullyBooted":
            self.fully_booted = True
        elif name == "Newchannel":
            self.channels[msg.get("Uniqueid") or msg.get("Channel")] = msg.get("Channel")
        elif name == "Hangup":
            self.channels.pop(msg.get("Uniqueid") or msg.get("Channel"), None)
        elif name == "DeviceStateChange":
            device, state = msg.get("Device"), msg.get("State")
            if device.startswith(_NOT_A_DEVICE):
                return
            if state.upper() in _GONE_DEVICE_STATES and not device.startswith("PJSIP/"):
                self.devices.pop(device, None)
                return
            self.devices[device] = state
            if device.startswith("PJSIP/"):
                self.endpoints[endpoint_name(device)] = state
        elif name == "Registry":
            key = msg.get("Domain") or msg.get("Username")
            self.registrations[key] = msg.get("Status")
            if msg.get("Status").lower() != "registered":
                log.warning("trunk registration %s: %s %s", key, msg.get("Status"), msg.get("Cause"))
        elif name == "ContactStatus":
            uri = msg.get("URI")
            status = msg.get("ContactStatus")
            if status.lower() == "removed":
                self.contacts.pop(uri, None)
                self.contact_endpoints.pop(uri, None)
            else:
                self.contacts[uri] = status
                if msg.get("EndpointName"):
                    self.contact_endpoints[uri] = msg.get("EndpointName")
        elif name == "PeerStatus":
            self.endpoints[endpoint_name(msg.get("Peer"))] = msg.get("PeerStatus")


class AmiCommandError(AmiError):
    """Asterisk answered an action with ``Response: Error`` (e.g. a module not loaded)."""
