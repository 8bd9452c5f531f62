"""The FastAGI routes offered to a hotel's existing dialplan.

``AGI(agi://host:4573/ivr)`` runs the keypad menus; ``…/lookup`` tells the dialplan who is calling
(``HOTEL_GUEST_NAME``, ``HOTEL_VIP``, ``HOTEL_RESERVATION``) and returns at once so the dialplan goes
on; ``…/operator`` hands the channel to the ARI app (``EXEC Stasis hotel-operator``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi.ivr import AgiIvrExecutor
from agi.server import AgiChannel, FastAgiServer, Route
from ari_app.ivr.config import MenuTree
from ari_app.ivr.engine import IvrEngine
from models.calls import VoiceCall
from models.hotel import Reservation, ReservationStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallerInfo:
    guest_name: str = ""
    vip: bool = False
    reservation: str = ""  # confirmation code of the current or next stay
    stays: int = 0
    previous_calls: int = 0


def _digits_sql(column: Any) -> Any:
    """The column without the usual separators, in SQL that SQLite and PostgreSQL both run."""
    out = column
    for sep in (" ", "-", ".", "(", ")", "/"):
        out = func.replace(out, sep, "")
    return out


def phone_key(number: str) -> str:
    """The digits that identify a phone number across formats (+33 6…, 06…, 0033 6…): the last 9."""
    digits = re.sub(r"\D", "", number)
    return digits[-9:] if len(digits) >= 6 else ""


async def lookup_caller(
    sessions: async_sessionmaker[AsyncSession], caller_id: str, *, vip_min_stays: int = 3, today: date | None = None
) -> CallerInfo:
    key = phone_key(caller_id)
    if not key:
        return CallerInfo()
    today = today or datetime.now(UTC).date()
    async with sessions() as db:
        rows = (
            await db.execute(select(Reservation).where(_digits_sql(Reservation.phone).contains(key)).order_by(Reservation.check_in))
        ).scalars()
        mine = [r for r in rows if phone_key(r.phone) == key]
        calls = await db.scalar(
            select(func.count(VoiceCall.id)).where(or_(VoiceCall.caller_id == caller_id, _digits_sql(VoiceCall.caller_id).contains(key)))
        )
    live = [r for r in mine if r.status != ReservationStatus.CANCELLED]
    current = [r for r in live if r.check_out >= today]
    pick = current[0] if current else (live[-1] if live else None)
    return CallerInfo(
        guest_name=pick.guest_name if pick else "",
        vip=len(live) >= vip_min_stays,
        reservation=current[0].confirmation_code if current else "",
        stays=len(live),
        previous_calls=int(calls or 0),
    )


def lookup_route(sessions: async_sessionmaker[AsyncSession], *, vip_min_stays: int = 3) -> Route:
    async def lookup(ch: AgiChannel) -> None:
        caller = ch.env.get("agi_callerid")
        info = await lookup_caller(sessions, caller, vip_min_stays=vip_min_stays)
        await ch.set_variable("HOTEL_GUEST_NAME", info.guest_name)
        await ch.set_variable("HOTEL_VIP", "1" if info.vip else "0")
        await ch.set_variable("HOTEL_RESERVATION", info.reservation)
        log.info("lookup %s: %s", ch.env.get("agi_uniqueid"), "known guest" if info.guest_name else "unknown caller")

    return lookup


def operator_route(app_name: str = "hotel-operator") -> Route:
    async def operator(ch: AgiChannel) -> None:
        args = ",".join([app_name, *ch.env.args])
        await ch.exec("Stasis", args)

    return operator


def ivr_route(
    tree: Callable[[], MenuTree],
    *,
    app_name: str = "hotel-operator",
    default_context: str = "from-internal",
    clock: Callable[[], datetime] | None = None,
) -> Route:
    """``tree`` is read per call, so a menu reload applies to the next call and never mid-call."""

    async def ivr(ch: AgiChannel) -> None:
        engine = IvrEngine(tree(), clock=clock)
        outcome = await AgiIvrExecutor(ch, engine, stasis_app=app_name, default_context=default_context).run()
        log.info("ivr %s ended: %s via %s in menu %s", ch.env.get("agi_uniqueid"), outcome.kind, outcome.reason, outcome.menu)

    return ivr


def make_routes(
    *,
    tree: Callable[[], MenuTree],
    sessions: async_sessionmaker[AsyncSession],
    app_name: str = "hotel-operator",
    transfer_context: str = "from-internal",
    vip_min_stays: int = 3,
) -> dict[str, Route]:
    return {
        "ivr": ivr_route(tree, app_name=app_name, default_context=transfer_context),
        "lookup": lookup_route(sessions, vip_min_stays=vip_min_stays),
        "operator": operator_route(app_name),
    }


def server_from_settings(settings: Any, tree: Callable[[], MenuTree], sessions: async_sessionmaker[AsyncSession]) -> FastAgiServer:
    """The FastAGI server as the service runs it: ``asterisk.agi_host/agi_port`` and the ``ivr`` limits."""
    ivr = settings.ivr
    routes = make_routes(
        tree=tree,
        sessions=sessions,
        app_name=settings.asterisk.app_name,
        transfer_context=ivr.transfer_context,
        vip_min_stays=ivr.vip_min_stays,
    )
    return FastAgiServer(
        routes,
        host=settings.asterisk.agi_host,
        port=settings.asterisk.agi_port,
        idle_timeout_s=ivr.agi_idle_timeout_s,
        reply_timeout_s=ivr.agi_reply_timeout_s,
        max_line=ivr.agi_max_line,
        max_env_lines=ivr.agi_max_env_lines,
        exec_timeout_s=ivr.agi_exec_timeout_s,
        max_connections=ivr.agi_max_connections,
        max_usage_lines=ivr.agi_max_usage_lines,
        max_usage_bytes=ivr.agi_max_usage_bytes,
    )
