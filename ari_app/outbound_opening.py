"""What the operator says first on a call the hotel placed (``POST /voice/calls/outbound``).

A person who answers a call they did not make must hear at once who calls and why; the inbound
greeting ("Thank you for calling…") would be wrong. The request (purpose and the staff's message)
is in ``outbound_calls``; the call finds it by the id passed as its Stasis argument
(``Stasis(app,outbound,<request id>)``), because channel variables set at originate are not part
of the ``StasisStart`` channel that ARI sends.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.privacy import mask_card_numbers
from models.voice_api import OutboundCall

log = logging.getLogger(__name__)

OUTBOUND_ARG = "outbound"


def request_id_from_args(args: tuple[str, ...]) -> str | None:
    """The outbound request id in ``(outbound, <id>)`` Stasis arguments, else None."""
    if len(args) >= 2 and args[0] == OUTBOUND_ARG and args[1].strip():
        return args[1].strip()
    return None


def opening_line(purpose: str, message: str, hotel: str) -> str:
    """Who calls and why, then an open question so the callee can talk to the operator."""
    said = " ".join(mask_card_numbers(message).split())
    if said and said[-1] not in ".!?":
        said += "."
    if purpose == "reminder":
        body = f"Hello, this is {hotel} with a reminder. {said}".rstrip()
        return f"{body} Is there anything I can help you with?"
    if purpose == "callback":
        extra = f" {said}" if said else ""
        return f"Hello, this is {hotel} returning your call.{extra} How can I help you?"
    body = f"Hello, this is {hotel}. {said}".rstrip()
    return f"{body} Is there anything I can help you with?"


async def outbound_opening(
    sessions: async_sessionmaker[AsyncSession], args: tuple[str, ...], hotel: str
) -> str | None:
    """The opening line for this call, or None when it is not a hotel-placed outbound call (or the
    request cannot be read: the call then greets as usual rather than failing)."""
    request_id = request_id_from_args(args)
    if request_id is None:
        return None
    try:
        async with sessions() as db:
            row = (
                await db.execute(select(OutboundCall).where(OutboundCall.request_id == request_id))
            ).scalar_one_or_none()
    except Exception as exc:  # the database must not keep the callee in silence
        log.warning("outbound request %s could not be read (%r); greeting as usual", request_id, exc)
        return None
    if row is None:
        log.warning("outbound request %s not found; greeting as usual", request_id)
        return None
    return opening_line(row.purpose, row.message, hotel)
