"""The three callables the API gets from the service, built over its call managers.

Kept here, not in ``service.py``, so the service only hands its managers over, and the mapping of a
call's lifecycle to what the front desk sees lives next to the API that shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ari_app.calls.state import SETUP_STATES, CallState
from ari_app.http.context import DialResult, EndCall, LiveCall, PlaceCall
from models.calls import CallStatus

if TYPE_CHECKING:
    from ari_app.calls.manager import CallManager
    from ari_app.settings import Settings

ROW_WAIT_S = 10.0  # a database that slow is logged by the call itself; the API answers anyway


def live_state(call: Any) -> str:
    state = call.state
    if state in SETUP_STATES:
        return "connecting"
    if state in (CallState.TRANSFERRING, CallState.HANDED_OFF):
        return "transferring"
    if getattr(call, "on_hold", False):
        return "on_hold"
    if getattr(call, "in_menu", False):  # set by the conversation while the keypad menu runs
        return "in_menu"
    return "active"


def live_calls_of(managers: Sequence[CallManager]) -> Callable[[], list[LiveCall]]:
    def live() -> list[LiveCall]:
        out = []
        for m in managers:
            for call in list(m.calls.values()):
                info = call.info
                out.append(LiveCall(
                    session_id=call.session_id, server=m.server_name, channel_id=call.channel_id,
                    caller_number=info.caller_number, caller_name=info.caller_name,
                    called_number=info.called_number, direction=call.direction, state=live_state(call),
                ))
        return out

    return live


def end_call_in(managers: Sequence[CallManager]) -> EndCall:
    async def end(session_id: str, reason: str) -> bool:
        for m in managers:
            for call in list(m.calls.values()):
                if call.session_id == session_id:
                    call.end(reason, CallStatus.COMPLETED)  # teardown hangs the caller up over ARI
                    return True
        return False

    return end


def place_call_via(managers: Sequence[CallManager], settings: Settings, ring_timeout_s: int) -> PlaceCall:
    """Dial through the trunk the same way a due callback does (``asterisk.callback_endpoint``)."""

    async def place(number: str, variables: dict[str, str]) -> DialResult:
        manager = next((m for m in managers if m.connected.is_set()), None)
        if manager is None:
            return DialResult(answered=False, error="no Asterisk connected")
        result = await manager.originate(
            settings.asterisk.callback_endpoint.format(number=number),
            caller_id=settings.trunk.caller_id or None,
            called_number=number,
            timeout_s=ring_timeout_s,
            variables=variables,
            # the call finds its request (purpose, message) by this Stasis argument
            app_args=f"outbound,{variables['HOTEL_OUTBOUND_ID']}" if variables.get("HOTEL_OUTBOUND_ID") else "outbound",
        )
        if result.call is not None:  # "answered" names a session that can be looked up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(result.call.row_settled.wait(), ROW_WAIT_S)
        return DialResult(
            answered=result.answered, cause=result.cause,
            session_id=result.call.session_id if result.call is not None else None,
        )

    return place
