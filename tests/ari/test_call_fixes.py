"""Call-control defects a real Asterisk 22 showed (issue 16 D3, D11, D14; issue 18 L5), reproduced
through the stand-in."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
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


class DyingStore(CallStore):
    """The store of a process about to be killed: once ``dead``, nothing it is asked reaches the
    database (kill -9 leaves the call row as it was)."""

    dead = False

    async def close_call(self, call_id: int, *args: Any, **kwargs: Any) -> None:
        if not self.dead:
            await super().close_call(call_id, *args, **kwargs)


# everything a dying process might still send; a killed one sends none of it
TEARDOWN_OPS = (
    "channels.setChannelVar",
    "channels.hangup",
    "channels.continueInDialplan",
    "bridges.destroy",
    "bridges.removeChannel",
)


async def test_given_the_service_dies_mid_call_then_the_caller_reaches_the_desk_and_a_restart_cleans_up(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    settings.calls.fallback_timeout_s = 0.6
    settings.calls.media_timeout_s = 30
    dying = DyingStore(store.sessions)
    async with running_manager(settings, dying, drain_s=0.5) as first:
        cid = standin.place_call(context="from-trunk")
        await eventually(lambda: any(cid in b.channels for b in standin.bridges.values()))
        await eventually(lambda: "TIMEOUT(absolute)" in standin.channels[cid].vars)
        call = first.calls[cid]
        row = call.row_id or 0
        await store.add_turn(row, "agent", "Thank you for calling. How can I help you today?")
        em = call.em_id or ""
        # kill -9: the WebSocket goes, nothing more is written or sent
        dying.dead = True
        standin.refuse_websockets(503)
        for op in TEARDOWN_OPS:
            standin.fail_next(op, 500, count=10_000)
        await standin.drop_websockets()
        killed_at = datetime.now(UTC)
        # Asterisk keeps the caller in Stasis; the dead-man TIMEOUT(absolute) fires and the
        # dialplan's T extension (the front desk) takes the caller; externalMedia is destroyed
        await eventually(lambda: standin.channels[cid].continued_to == ("from-trunk", "T", 1), 5)
        await eventually(lambda: em in standin.ended_channels)
    caller = standin.channels[cid]
    assert not caller.gone and caller.app is None
    assert standin.bridges  # an empty bridge of ours is left until we come back
    standin.clear_failures()
    standin.refuse_websockets(None)
    async with running_manager(settings, CallStore(store.sessions)):
        await eventually(lambda: not standin.bridges)
    assert not standin.channels[cid].gone  # the caller talks to the desk: we leave it alone
    closed = await store.get_call(row)
    assert closed is not None
    assert (closed.status, closed.end_reason) == (CallStatus.FAILED, "service_lost: sent to the front desk")
    assert closed.ended_at is not None
    ended = closed.ended_at if closed.ended_at.tzinfo else closed.ended_at.replace(tzinfo=UTC)
    assert ended <= killed_at  # its last sign of life, not the restart


async def test_given_a_row_whose_channel_vanished_while_we_were_down_then_it_is_closed_as_failed(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    row = await store.open_call(session_id="orphan", channel_id="1796000000.99", asterisk_server="pbx1")
    async with running_manager(settings, store):
        pass  # the first reconcile has run when the manager is up
    closed = await store.get_call(row)
    assert closed is not None
    assert (closed.status, closed.end_reason) == (CallStatus.FAILED, "ended_while_disconnected")


async def test_given_the_service_crashes_then_its_calls_are_closed_as_failed_not_completed(
    standin: AsteriskStandin, settings: Settings, store: CallStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the crash itself is the point
        async with running_manager(settings, store) as manager:
            cid = standin.place_call()
            await eventually(lambda: any(cid in b.channels for b in standin.bridges.values()))
            call = manager.calls[cid]
            real = manager._dispatch

            def explode(event: Any) -> None:
                if getattr(event, "type", "") == "ChannelDtmfReceived":
                    raise RecursionError("a frame the decoder could not take")
                real(event)

            monkeypatch.setattr(manager, "_dispatch", explode)
            standin.send_dtmf(cid, "5")
            await asyncio.wait_for(call.finished.wait(), 5)
    await manager.client.close()  # running_manager re-raised the crash before closing it
    assert "RecursionError" in repr(info.value)
    row = await store.get_call(call.row_id or 0)
    assert row is not None and (row.status, row.end_reason) == (CallStatus.FAILED, "service_error")


async def test_given_the_caller_hangs_up_mid_reply_then_the_conversation_can_store_what_was_played(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    import numpy as np

    played: list[int] = []

    async def reply(session: CallSession) -> None:
        utt = session.media.play(np.full(8000 * 5, 3000, dtype=np.int16))  # a 5 s reply
        await utt.wait()  # cut by the hang-up: our media closes, the reply ends early
        played.append(utt.frames_sent)
        await session.store.add_turn(session.info.call_row_id, "agent", "Certainly, we have", interrupted=True)

    async with running_manager(settings, store, reply) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await eventually(lambda: len(getattr(standin.leg(call.em_id or ""), "captured", ())) >= 25)
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    assert played and 25 <= played[0] < 250  # part of the reply went out, not all of it
    row = await store.get_call(call.row_id or 0)
    assert row is not None and (row.status, row.end_reason) == (CallStatus.COMPLETED, "caller_hangup")
    assert row.transcript == "agent: Certainly, we have"
