"""Call-control defects a real Asterisk 22 showed (issue 16 D3, D11, D14; issue 18 L5), reproduced
through the stand-in."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from arikit import eventually, running_manager

from ari_app.session import CallSession
from ari_app.settings import Settings
from ari_app.standin import AsteriskStandin
from models.calls import CallStatus
from models.store import CallStore


def transfer_then_return(extension: str, context: str) -> Any:
    """What the conversation does after a spoken "front desk, please": transfer, then return."""

    async def talk(session: CallSession) -> None:
        await session.control.transfer(extension, context)

    return talk


async def test_given_a_spoken_transfer_when_the_conversation_returns_then_the_caller_is_not_hung_up(
    standin: AsteriskStandin, settings: Settings, store: CallStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ari_app.calls")
    async with running_manager(settings, store, transfer_then_return("100", "hotel-phones")) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(call.finished.wait(), 5)
    caller_deletes = [r for r in standin.requests("channels.hangup") if r.path == f"/ari/channels/{cid}"]
    assert caller_deletes == []
    caller = standin.channels[cid]
    assert caller.continued_to == ("hotel-phones", "100", 1) and not caller.gone
    row = await store.get_call(call.row_id or 0)
    assert row is not None and (row.status, row.end_reason) == (CallStatus.TRANSFERRED, "transferred: 100")
    assert "conversation finished; hanging up the caller" not in caplog.text


async def test_given_a_transfer_to_a_context_that_does_not_exist_then_the_row_says_it_failed(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    # Asterisk answers continueInDialplan with 204 whatever the context; the channel then leaves
    # Stasis, finds no such extension, and is hung up ("sent to invalid extension")
    standin.dialplan_contexts = {"from-guest", "from-internal"}
    async with running_manager(settings, store, transfer_then_return("100", "hotel-phones")) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(call.finished.wait(), 5)
    assert standin.ended_channels[cid].gone
    row = await store.get_call(call.row_id or 0)
    assert row is not None and row.status == CallStatus.FAILED
    assert row.end_reason.startswith("transfer_failed")


async def test_given_the_agent_hangs_up_then_the_log_does_not_call_it_a_caller_hang_up(
    standin: AsteriskStandin, settings: Settings, store: CallStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ari_app.calls")

    async def hang_up(session: CallSession) -> None:
        await session.control.hangup("normal")

    async with running_manager(settings, store, hang_up) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(call.finished.wait(), 5)
    assert "caller hang-up request" not in caplog.text
    assert "our hang-up" in caplog.text
    row = await store.get_call(call.row_id or 0)
    assert row is not None and row.end_reason == "agent_hangup"
