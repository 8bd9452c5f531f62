"""Values shared by tools and brains: what a tool returns, the call actions it asks for, its context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from ari_app.tools.schemas import Limits

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from ari_app.settings import Settings
    from ari_app.tools.facts import HotelFacts
    from models.store import CallStore

ActionKind = Literal["transfer", "hold", "hangup", "menu"]


@dataclass(frozen=True)
class Action:
    """A call-control request for whoever owns the call (ARI call, AGI, test harness) to carry out."""

    kind: ActionKind
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolResult:
    """``data`` is JSON-able (for a model); ``summary`` is one speakable line (for a caller and the log)."""

    name: str
    data: dict[str, Any]
    summary: str
    ok: bool = True
    action: Action | None = None
    latency_ms: float = 0.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ToolContext:
    """Everything a tool may touch for one call. ``clock`` is injectable so tests can fix "today"."""

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    facts: HotelFacts
    store: CallStore | None = None
    call_id: int | None = None
    session_id: str | None = None
    caller_number: str = ""
    clock: Callable[[], datetime] = _utc_now

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.hotel.timezone)

    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def today(self) -> date:
        return self.now().date()

    def limits(self) -> Limits:
        """The hotel's booking rules as of now, for argument validation and for merged-stay checks."""
        h = self.settings.hotel
        now = self.now()
        return Limits(
            today=now.date(),
            tz=self.tz,
            now=now,
            max_guests=h.max_guests_per_booking,
            max_nights=h.max_nights,
            horizon_days=h.booking_horizon_days,
            departments=dict(h.departments),
        )
