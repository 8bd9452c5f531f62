"""ARI client on aiohttp: REST calls with typed results and errors, and the events WebSocket.

* Credentials go in a basic-auth ``Authorization`` header only; URLs we log never carry them (and a
  ``user:password@`` in the configured URL is stripped before anything is logged or requested).
* Every REST method maps to one operation of Asterisk's API description (``api-docs/*.json``) with
  exactly the query parameter names it allows; the Asterisk stand-in checks that in tests.
* :meth:`AriClient.events` yields typed events from ``/ari/events?app=…&subscribeAll=false`` and
  reconnects on its own with jittered, capped backoff. Between connections it yields
  :class:`StreamConnected` / :class:`StreamDisconnected` markers so the consumer can reconcile.
  Permanent failures (401/403, the app refused or replaced) raise instead of looping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from ari_app.ari.backoff import Backoff
from ari_app.ari.errors import (
    AriAppRefused,
    AriAuthError,
    AriError,
    AriEventDecodeError,
    AriProtocolError,
    AriUnreachable,
    error_for_status,
)
from ari_app.ari.events import ApplicationReplaced, Event, UnknownEvent, decode_event
from ari_app.ari.models import Application, AsteriskInfo, Bridge, Channel, Playback
from ari_app.logthrottle import OutageLog

log = logging.getLogger("ari_app.ari.client")

#: reasons ``DELETE /channels/{id}`` accepts (api-docs channels.json, hangup ``reason``)
HANGUP_REASONS = (
    "normal",
    "busy",
    "congestion",
    "no_answer",
    "timeout",
    "rejected",
    "unallocated",
    "normal_unspecified",
    "number_incomplete",
    "codec_mismatch",
    "interworking",
    "failure",
    "answered_elsewhere",
)


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """The events WebSocket is (re)connected. ``first`` is False after a drop: reconcile now."""

    first: bool
    attempts: int  # connection attempts it took, including the successful one


@dataclass(frozen=True, slots=True)
class StreamDisconnected:
    """The events WebSocket was lost; the client is about to back off and reconnect."""

    reason: str


StreamItem = Event | StreamConnected | StreamDisconnected


@dataclass
class EventStreamStats:
    connects: int = 0
    disconnects: int = 0
    failed_attempts: int = 0
    decode_errors: int = 0
    unknown_events: int = 0
    reconnect_delays: list[float] = field(default_factory=list)


def _seg(value: str) -> str:
    """One path segment, percent-encoded (ids are ours or Asterisk's, but never trust them raw)."""
    return quote(value, safe="")


class AriClient:
    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        server_name: str = "pbx1",
        request_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
        heartbeat_s: float | None = 20.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        url = URL(base_url.rstrip("/"))
        if url.user or url.password:
            # never keep credentials in a URL that could be logged; the header carries them
            user = user or (url.user or "")
            password = password or (url.password or "")
            url = url.with_user(None)
        self.base_url = url
        self.app = app
        self.server_name = server_name
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth_header = f"Basic {token}"
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self.backoff = backoff or Backoff()
        self.heartbeat_s = heartbeat_s
        self._session = session
        self._own_session = session is None
        self._stopping = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.stats = EventStreamStats()
        self._outage = OutageLog(log, f"ARI events on {server_name}")

    @classmethod
    def from_server(cls, server: Any, *, reconnect_max_s: float = 10.0, **kwargs: Any) -> AriClient:
        """Build from one ``AsteriskServer`` settings section (``settings.asterisk.servers()``)."""
        backoff = kwargs.pop("backoff", None) or Backoff(cap_s=reconnect_max_s)
        return cls(
            server.ari_url,
            server.ari_user,
            server.ari_password.get_secret_value(),
            server.app_name,
            server_name=server.name,
            backoff=backoff,
            **kwargs,
        )

    # ------------------------------------------------------------------------------------------
    # plumbing

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        await self.stop_events()
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _url(self, path: str) -> URL:
        return URL(str(self.base_url) + "/ari" + path)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        shown = "/ari" + path
        started = time.monotonic()
        try:
            async with self.session.request(
                method,
                self._url(path),
                params=query or None,
                json=body,
                headers={"Authorization": self._auth_header},
                timeout=self._timeout,
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise AriUnreachable(
                f"no answer from Asterisk at {self.base_url}: {reason}", method=method, path=shown
            ) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("ARI %s %s %s -> %s (%.1f ms)", method, shown, query or "", status, elapsed_ms)
        payload: Any = None
        if text:
            try:
                payload = json.loads(text)
            except ValueError:
                if status < 400:
                    raise AriProtocolError(
                        f"response is not JSON: {text[:120]!r}", status=status, method=method, path=shown
                    ) from None
                payload = text
        if status >= 400:
            message = ""
            if isinstance(payload, Mapping):
                message = str(payload.get("message") or payload.get("error") or "")
            elif isinstance(payload, str):
                message = payload[:200]
            raise error_for_status(
                status, message or f"HTTP {status}", method=method, path=shown, body=payload
            )
        return payload

    @staticmethod
    def _decode(kind: str, payload: Any, decoder: Any) -> Any:
        if not isinstance(payload, Mapping):
            raise AriProtocolError(f"expected a {kind} object, got {type(payload).__name__}")
        try:
            return decoder(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise AriProtocolError(f"unreadable {kind}: {exc}") from None

    def _channel(self, payload: Any) -> Channel:
        result: Channel = self._decode("Channel", payload, Channel.from_json)
        return result

    def _bridge(self, payload: Any) -> Bridge:
        result: Bridge = self._decode("Bridge", payload, Bridge.from_json)
        return result

    # ------------------------------------------------------------------------------------------
    # asterisk / applications

    async def asterisk_info(self) -> AsteriskInfo:
        info: AsteriskInfo = self._decode(
            "AsteriskInfo", await self._request("GET", "/asterisk/info"), AsteriskInfo.from_json
        )
        return info

    async def get_application(self, name: str | None = None) -> Application:
        payload = await self._request("GET", f"/applications/{_seg(name or self.app)}")
        app: Application = self._decode("Application", payload, Application.from_json)
        return app

    # ------------------------------------------------------------------------------------------
    # channels

    async def list_channels(self) -> list[Channel]:
        payload = await self._request("GET", "/channels")
        if not isinstance(payload, list):
            raise AriProtocolError("expected a list of channels")
        return [self._channel(c) for c in payload]

    async def get_channel(self, channel_id: str) -> Channel:
        return self._channel(await self._request("GET", f"/channels/{_seg(channel_id)}"))

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str | None = None) -> None:
        if reason is not None and reason not in HANGUP_REASONS:
            raise ValueError(f"hang-up reason {reason!r} is not one of {', '.join(HANGUP_REASONS)}")
        await self._request("DELETE", f"/channels/{_seg(channel_id)}", {"reason": reason})

    async def get_variable(self, channel_id: str, variable: str) -> str:
        payload = await self._request("GET", f"/channels/{_seg(channel_id)}/variable", {"variable": variable})
        if not isinstance(payload, Mapping) or not isinstance(payload.get("value"), str):
            raise AriProtocolError("expected a Variable object")
        return str(payload["value"])

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._request(
            "POST", f"/channels/{_seg(channel_id)}/variable", {"variable": variable, "value": value}
        )

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        media_param = media if isinstance(media, str) else ",".join(media)
        payload = await self._request(
            "POST",
            f"/channels/{_seg(channel_id)}/play",
            {"media": media_param, "lang": lang, "playbackId": playback_id},
        )
        playback: Playback = self._decode("Playback", payload, Playback.from_json)
        return playback

    async def get_playback(self, playback_id: str) -> Playback:
        payload = await self._request("GET", f"/playbacks/{_seg(playback_id)}")
        playback: Playback = self._decode("Playback", payload, Playback.from_json)
        return playback

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{_seg(playback_id)}")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._request("POST", f"/channels/{_seg(channel_id)}/moh", {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{_seg(channel_id)}/moh")

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self._request(
            "POST",
            f"/channels/{_seg(channel_id)}/continue",
            {
                "context": context,
                "extension": extension,
                "priority": None if priority is None else str(priority),
                "label": label,
            },
        )

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        extension: str | None = None,
        context: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout_s: int | None = None,
        channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        params = {
            "endpoint": endpoint,
            "extension": extension,
            "context": context,
            "priority": None if priority is None else str(priority),
            "app": app,
            "appArgs": app_args,
            "callerId": caller_id,
            "timeout": None if timeout_s is None else str(timeout_s),
            "channelId": channel_id,
        }
        body = {"variables": dict(variables)} if variables else None
        return self._channel(await self._request("POST", "/channels", params, body))

    async def external_media(
        self,
        *,
        app: str,
        external_host: str,
        format: str,
        channel_id: str | None = None,
        encapsulation: str = "rtp",
        transport: str = "udp",
        connection_type: str = "client",
        direction: str = "both",
    ) -> Channel:
        # parameter order as in the records: app, channelId, external_host, format, encapsulation, ...
        params = {
            "app": app,
            "channelId": channel_id,
            "external_host": external_host,
            "format": format,
            "encapsulation": encapsulation,
            "transport": transport,
            "connection_type": connection_type,
            "direction": direction,
        }
        return self._channel(await self._request("POST", "/channels/externalMedia", params))

    # ------------------------------------------------------------------------------------------
    # bridges

    async def create_bridge(
        self, *, type: str = "mixing", name: str | None = None, bridge_id: str | None = None
    ) -> Bridge:
        return self._bridge(
            await self._request("POST", "/bridges", {"type": type, "name": name, "bridgeId": bridge_id})
        )

    async def list_bridges(self) -> list[Bridge]:
        payload = await self._request("GET", "/bridges")
        if not isinstance(payload, list):
            raise AriProtocolError("expected a list of bridges")
        return [self._bridge(b) for b in payload]

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return self._bridge(await self._request("GET", f"/bridges/{_seg(bridge_id)}"))

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{_seg(bridge_id)}")

    async def add_channel(self, bridge_id: str, channels: Sequence[str], *, role: str | None = None) -> None:
        await self._request(
            "POST", f"/bridges/{_seg(bridge_id)}/addChannel", {"channel": ",".join(channels), "role": role}
        )

    async def remove_channel(self, bridge_id: str, channels: Sequence[str]) -> None:
        await self._request(
            "POST", f"/bridges/{_seg(bridge_id)}/removeChannel", {"channel": ",".join(channels)}
        )

    # ------------------------------------------------------------------------------------------
    # events WebSocket

    async def stop_events(self) -> None:
        """Make :meth:`events` end; closes the WebSocket (aiohttp wakes a reader waiting on it)."""
        self._stopping.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def _sleep_or_stop(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            pass

    async def _connect_ws(self) -> aiohttp.ClientWebSocketResponse:
        url = self._url("/events")
        params = {"app": self.app, "subscribeAll": "false"}
        try:
            return await self.session.ws_connect(
                url,
                params=params,
                headers={"Authorization": self._auth_header},
                heartbeat=self.heartbeat_s,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
        except aiohttp.WSServerHandshakeError as exc:
            status = exc.status
            if status in (401, 403):
                raise AriAuthError(
                    f"Asterisk refused the ARI user (HTTP {status}); check asterisk.ari_user / ari_password "
                    "and ari.conf",
                    status=status,
                    method="GET",
                    path="/ari/events",
                ) from None
            if status in (400, 404, 422):
                raise AriAppRefused(
                    f"Asterisk refused the events WebSocket for app {self.app!r} (HTTP {status}: {exc.message}); "
                    "check asterisk.app_name",
                    status=status,
                    method="GET",
                    path="/ari/events",
                ) from None
            raise error_for_status(
                status, exc.message or f"HTTP {status}", method="GET", path="/ari/events"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AriUnreachable(
                f"cannot open the events WebSocket at {self.base_url}: {exc or type(exc).__name__}",
                method="GET",
                path="/ari/events",
            ) from None

    async def events(self) -> AsyncGenerator[StreamItem, None]:
        """Typed events, forever, reconnecting as needed; ends after :meth:`stop_events`.

        Raises :class:`AriAuthError` / :class:`AriAppRefused` (permanent) instead of retrying them.
        Frames that do not decode are logged and skipped; unknown event types are yielded as
        :class:`UnknownEvent` for the consumer to log and ignore.
        """
        self._stopping.clear()
        first = True
        attempts = 0
        while not self._stopping.is_set():
            attempts += 1
            try:
                ws = await self._connect_ws()
            except AriError as exc:
                if not exc.transient:
                    log.error(
                        "ARI events for app %r on %s: %s; not retrying", self.app, self.server_name, exc
                    )
                    raise
                self.stats.failed_attempts += 1
                delay = self.backoff.next_delay()
                self.stats.reconnect_delays.append(delay)
                self._outage.failed(str(exc), retry_in_s=delay)
                await self._sleep_or_stop(delay)
                continue
            self._ws = ws
            self.backoff.reset()
            self._outage.recovered()
            self.stats.connects += 1
            log.info(
                "ARI events WebSocket connected to %s for app %r (attempt %d)",
                self.server_name,
                self.app,
                attempts,
            )
            yield StreamConnected(first=first, attempts=attempts)
            first = False
            attempts = 0
            reason = "closed by Asterisk"
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        try:
                            event = decode_event(msg.data)
                        except AriEventDecodeError as exc:
                            self.stats.decode_errors += 1
                            log.warning(
                                "ARI event skipped on %s: %s (frame %r)", self.server_name, exc, exc.text
                            )
                            continue
                        except Exception as exc:  # noqa: BLE001 - one bad frame never ends the stream
                            self.stats.decode_errors += 1
                            log.warning(
                                "ARI event skipped on %s: %s: %s", self.server_name, type(exc).__name__, exc
                            )
                            continue
                        if isinstance(event, UnknownEvent):
                            self.stats.unknown_events += 1
                        if isinstance(event, ApplicationReplaced):
                            reason = "application replaced"
                            yield event
                            raise AriAppRefused(
                                f"another ARI client took over app {self.app!r} on {self.server_name}; "
                                "two services must not share one app name"
                            )
                        yield event
                    elif msg.type == aiohttp.WSMsgType.ERROR:
                        reason = f"error: {ws.exception()}"
                        break
                    elif msg.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED,
                    ):
                        break
                    else:
                        log.debug("ARI events: ignoring %s frame", msg.type.name)
            finally:
                self._ws = None
                if not ws.closed:
                    await ws.close()
            if self._stopping.is_set():
                break
            self.stats.disconnects += 1
            log.warning("ARI events WebSocket to %s lost (%s); reconnecting", self.server_name, reason)
            yield StreamDisconnected(reason=reason)
            delay = self.backoff.next_delay()
            self.stats.reconnect_delays.append(delay)
            await self._sleep_or_stop(delay)
