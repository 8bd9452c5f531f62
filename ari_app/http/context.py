"""What the HTTP side needs from the rest of the service, handed over as one object.

The API never imports the call manager: live calls, hang-up and outbound dialling arrive as plain
callables, so the API can be tested with a real database and a stand-in of those three, and the
service wires the real ones (``Service.run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.metrics import Metrics

HealthPart = Callable[[], dict[str, Any]]
RouteInstaller = Callable[[web.Application], None]


@dataclass(frozen=True)
class LiveCall:
    """One call in progress as a manager sees it (state is what the front desk needs to know)."""

    session_id: str
    server: str
    channel_id: str
    caller_number: str
    caller_name: str
    called_number: str
    direction: str
    state: str  # connecting | active | on_hold | in_menu | transferring


@dataclass(frozen=True)
class DialResult:
    """How an outbound attempt ended (``session_id`` is the call's, when it was answered)."""

    answered: bool
    session_id: str | None = None
    cause: int | None = None
    error: str = ""


EndCall = Callable[[str, str], Awaitable[bool]]  # (session_id, reason) -> found and ended
PlaceCall = Callable[[str, dict[str, str]], Awaitable[DialResult]]  # (E.164 number, channel vars)


@dataclass
class ApiContext:
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    tokens: list[str]
    health_parts: dict[str, HealthPart] = field(default_factory=dict)
    reload_ivr: Callable[[], Awaitable[str]] | None = None
    live_calls: Callable[[], Sequence[LiveCall]] = lambda: ()
    end_call: EndCall | None = None
    place_call: PlaceCall | None = None
    timezone: str = "UTC"
    currency: str = "USD"
    recording_key: str | None = None  # URL-safe base64 key of encrypted recordings
    outbound_per_number_per_hour: int = 3
    #: paths under the protected prefixes that need no token (another helper's public pages)
    public_paths: tuple[str, ...] = ()
    #: extra routes from other parts (e.g. the WebRTC page): each gets the app before it starts
    route_installers: list[RouteInstaller] = field(default_factory=list)
    live_poll_s: float = 1.0  # how often the live-calls stream looks for changes


CTX: web.AppKey[ApiContext] = web.AppKey("ctx", ApiContext)
#: who made the request, as the audit table names them ("token:ab12cd34", "loopback")
WHO: web.RequestKey[str] = web.RequestKey("who", str)
