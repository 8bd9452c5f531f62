"""Spam and abuse screening: may this number be answered, and how?

The decision is a function of the lists in the database, the recent calls from the number and the
time given by the caller of :func:`screen_caller`: no clock is read here, so tests (and a replay of
an incident) get the same answer for the same inputs. Everything that changes the lists goes
through the small helpers below, shared by the CLI and anything else that manages them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import ScreeningSettings
from models.calls import VoiceCall
from models.screening import CallerScreeningEntry, ScreeningKind

Action = Literal["answer", "menu_only", "reject"]

# What trunks and phones put in the caller id when the number is withheld.
ANONYMOUS_IDS = frozenset({"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable"})
RATE_WINDOW = timedelta(hours=1)
_END_REASONS = {
    "blocked": "blocked",
    "rate_limited": "rate_limited",
}


class ScreeningError(ValueError):
    """A list change that can't be made (no digits in the number); one line for a console."""


@dataclass(frozen=True, slots=True)
class ScreeningDecision:
    action: Action
    reason: str  # allowed | ok | blocked | rate_limited | anonymous
    number: str  # digits-only key ("" for a withheld number)
    calls_last_hour: int = 0
    label: str = ""

    @property
    def end_reason(self) -> str:
        """What to store as the call's end reason when it isn't answered as usual ("" otherwise)."""
        if self.reason == "anonymous":
            return "anonymous_rejected" if self.action == "reject" else (
                "anonymous_menu_only" if self.action == "menu_only" else ""
            )
        return _END_REASONS.get(self.reason, "")


def number_key(number: str) -> str:
    """Digits only: the same caller reaches us as +15550100, 15550100 or "1 555-0100"."""
    return re.sub(r"\D", "", number)


def is_anonymous(number: str) -> bool:
    cleaned = number.strip().strip('"').lower()
    return cleaned in ANONYMOUS_IDS or not number_key(cleaned)


async def screen_caller(
    session_factory: async_sessionmaker[AsyncSession],
    settings: ScreeningSettings,
    number: str,
    now: datetime,
    *,
    exclude_session_id: str | None = None,
) -> ScreeningDecision:
    """Decide how to treat a call from ``number`` arriving at ``now`` (an aware datetime).

    Order matters and is the one a hotel expects: withheld numbers follow the policy (they can be on
    no list); the block list beats everything; the allow list (VIP, staff) skips the rate limit; then
    the number's calls in the hour before ``now`` are counted against ``max_calls_per_hour``.
    """
    if now.tzinfo is None:
        raise ValueError("screen_caller needs an aware datetime (UTC)")
    if not settings.enabled:
        return ScreeningDecision("answer", "ok", number_key(number))
    if is_anonymous(number):
        return ScreeningDecision(settings.anonymous_policy, "anonymous", "")
    key = number_key(number)
    async with session_factory() as session:
        entry = await session.scalar(select(CallerScreeningEntry).where(CallerScreeningEntry.number_key == key))
        if entry is not None and entry.kind == ScreeningKind.BLOCK:
            return ScreeningDecision("reject", "blocked", key, label=entry.note)
        if entry is not None and entry.kind == ScreeningKind.ALLOW:
            return ScreeningDecision("answer", "allowed", key, label=entry.note)
        recent = await _calls_since(session, key, now - RATE_WINDOW, now, exclude_session_id)
    limit = settings.max_calls_per_hour
    if limit and recent >= limit:
        return ScreeningDecision("reject", "rate_limited", key, calls_last_hour=recent)
    return ScreeningDecision("answer", "ok", key, calls_last_hour=recent)


async def _calls_since(
    session: AsyncSession, key: str, since: datetime, now: datetime, exclude_session_id: str | None
) -> int:
    # caller_id is stored as the trunk sent it, so match on digits: narrow in SQL by time and last
    # digit (a hotel's hourly volume is small), then compare the exact key in Python.
    query = select(VoiceCall.caller_id).where(
        VoiceCall.started_at > since,
        VoiceCall.started_at <= now,
        VoiceCall.caller_id.like(f"%{key[-1]}"),
    )
    if exclude_session_id is not None:
        query = query.where(VoiceCall.session_id != exclude_session_id)
    rows = (await session.scalars(query)).all()
    return sum(1 for caller_id in rows if number_key(caller_id) == key)


async def set_entry(
    session_factory: async_sessionmaker[AsyncSession], number: str, kind: str, note: str, now: datetime
) -> CallerScreeningEntry:
    """Put ``number`` on the block or allow list (moving it off the other one)."""
    if kind not in ScreeningKind.ALL:
        raise ScreeningError(f"list must be one of {', '.join(ScreeningKind.ALL)}, not {kind!r}")
    key = number_key(number)
    if not key:
        raise ScreeningError(f"number {number!r} has no digits")
    async with session_factory() as session, session.begin():
        entry = await session.scalar(select(CallerScreeningEntry).where(CallerScreeningEntry.number_key == key))
        if entry is None:
            entry = CallerScreeningEntry(number_key=key, number=number.strip(), kind=kind, note=note, created_at=now)
            session.add(entry)
        else:
            entry.kind, entry.note, entry.number = kind, note, number.strip()
        entry.updated_at = now
    return entry


async def remove_entry(session_factory: async_sessionmaker[AsyncSession], number: str) -> bool:
    """Take ``number`` off whichever list holds it; False when it was on none."""
    key = number_key(number)
    async with session_factory() as session, session.begin():
        entry = await session.scalar(select(CallerScreeningEntry).where(CallerScreeningEntry.number_key == key))
        if entry is None:
            return False
        await session.delete(entry)
    return True


async def list_entries(
    session_factory: async_sessionmaker[AsyncSession], kind: str | None = None
) -> list[CallerScreeningEntry]:
    async with session_factory() as session:
        query = select(CallerScreeningEntry).order_by(CallerScreeningEntry.kind, CallerScreeningEntry.number_key)
        if kind is not None:
            query = query.where(CallerScreeningEntry.kind == kind)
        return list((await session.scalars(query)).all())

