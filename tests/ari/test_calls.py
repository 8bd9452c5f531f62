"""Call lifecycle (the state table) and the call-control verbs, through the stand-in with real RTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arikit import echo_conversation, eventually, running_manager

from ari_app.calls.call import OWN_ID_PREFIX, TransferOutcome
from ari_app.calls.state import TRANSITIONS, CallState, IllegalTransition, Lifecycle
from ari_app.session import CallSession
from ari_app.settings import Settings
from ari_app.standin import AsteriskStandin
from models.calls import CallStatus, VoiceCall
from models.store import CallStore


def test_given_the_state_table_then_every_state_can_reach_ended_and_ended_is_final() -> None:
    for state in CallState:
        seen, todo = {state}, [state]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert CallState.ENDED in seen
    assert TRANSITIONS[CallState.ENDED] == frozenset()


def test_given_an_illegal_step_then_the_error_names_the_current_state() -> None:
    life = Lifecycle("pbx1/abc")
    life.advance(CallState.ANSWERING)
    with pytest.raises(IllegalTransition, match="call pbx1/abc: cannot go from ANSWERING to ACTIVE") as info:
        life.advance(CallState.ACTIVE)
    assert info.value.current is CallState.ANSWERING
    assert life.state is CallState.ANSWERING  # unchanged
    for state in (
        CallState.BRIDGING,
        CallState.WAITING_MEDIA,
        CallState.ACTIVE,
        CallState.ENDING,
        CallState.ENDED,
    ):
        life.advance(state)
    with pytest.raises(IllegalTransition, match="from ENDED to ACTIVE \\(allowed: none\\)"):
        life.advance(CallState.ACTIVE)


async def test_given_a_call_then_rtp_flows_both_ways_and_the_row_says_who_called(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        cid = standin.place_call(caller_number="+15551234567", caller_name="Ann", did="+15550000000")
        await eventually(lambda: frames.get(cid, 0) >= 25)
        call = manager.calls[cid]
        assert call.state is CallState.ACTIVE and call.life.history[:5] == [
            CallState.NEW,
            CallState.ANSWERING,
            CallState.BRIDGING,
            CallState.WAITING_MEDIA,
            CallState.ACTIVE,
        ]
        leg = standin.leg(call.em_id or "")
        assert leg is not None
        await eventually(lambda: len(leg.captured) >= 25)
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    # the agent side reached Asterisk from our port, with our own SSRC, sequence and timestamps
    assert {p.source[1] for p in leg.captured} == {call.endpoint.local_port}
    assert len({p.ssrc for p in leg.captured}) == 1 and {p.payload_type for p in leg.captured} == {0}
    row = await store.get_call(row_id(call))
    assert isinstance(row, VoiceCall)
    assert (row.caller_id, row.caller_name, row.called_number, row.direction) == (
        "+15551234567",
        "Ann",
        "+15550000000",
        "inbound",
    )
    assert (row.status, row.end_reason, row.asterisk_server, row.channel_id) == (
        CallStatus.COMPLETED,
        "caller_hangup",
        "pbx1",
        cid,
    )
    assert call.info.stasis_args == ("+15550000000",) and call.info.call_row_id == row.id


def row_id(call: Any) -> int:
    assert call.row_id is not None
    return int(call.row_id)


def control_conversation(steps: list[tuple[str, Any]], results: list[Any]) -> Any:
    async def talk(session: CallSession) -> None:
        control: Any = session.control
        for name, arg in steps:
            if name == "dtmf":
                results.append(await asyncio.wait_for(session.dtmf.get(), 5))
            elif name == "wait":
                await asyncio.sleep(arg)
            else:
                method = getattr(control, name)
                results.append(await (method(**arg) if isinstance(arg, dict) else method(arg)))
        await asyncio.Event().wait()

    return talk


async def test_given_call_control_then_sound_moh_variable_and_hangup_reach_asterisk(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    standin.set_sound_duration("sound:hello-world", 0.1)
    results: list[Any] = []
    steps: list[tuple[str, Any]] = [
        ("play_sound", "sound:hello-world"),
        ("start_hold_music", "jazz"),
        ("stop_hold_music", {}),
        ("set_variable", {"name": "HOTEL_INTENT", "value": "booking"}),
        ("dtmf", None),
        ("hangup", "busy"),
    ]
    async with running_manager(settings, store, control_conversation(steps, results)) as manager:
        cid = standin.place_call()
        await eventually(lambda: any(r.op == "channels.setChannelVar" for r in standin.request_log))
        standin.send_dtmf(cid, "7")
        call = manager.calls.get(cid) or next(iter(manager.calls.values()))
        await asyncio.wait_for(call.finished.wait(), 5)
    ops = [
        (r.op, r.query)
        for r in standin.request_log
        if r.path.startswith(f"/ari/channels/{cid}")
        and r.query.get("variable") != "TIMEOUT(absolute)"  # the dead-man switch (test_call_fixes)
    ]
    assert [op for op, _ in ops] == [
        "channels.answer",
        "channels.play",
        "channels.startMoh",
        "channels.stopMoh",
        "channels.setChannelVar",
        "channels.hangup",
    ]
    assert ops[1][1]["media"] == "sound:hello-world" and ops[1][1]["playbackId"].startswith(OWN_ID_PREFIX)
    assert ops[2][1] == {"mohClass": "jazz"}
    assert ops[4][1] == {"variable": "HOTEL_INTENT", "value": "booking"}
    assert ops[5][1] == {"reason": "busy"}
    assert "7" in results
    assert standin.ended_channels[cid].vars["HOTEL_INTENT"] == "booking"
    row = await store.get_call(row_id(call))
    assert row is not None and (row.status, row.end_reason) == (CallStatus.COMPLETED, "agent_hangup")
    assert not standin.live_channels() and not standin.bridges


async def test_given_a_blind_transfer_then_the_caller_leaves_our_bridge_for_the_dialplan(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    results: list[Any] = []
    steps: list[tuple[str, Any]] = [("transfer", {"extension": "101", "context": "from-internal"})]
    async with running_manager(settings, store, control_conversation(steps, results)) as manager:
        cid = standin.place_call()
        await eventually(lambda: cid in manager.calls)
        call = manager.calls[cid]
        await asyncio.wait_for(call.finished.wait(), 5)
    ops = [r.op for r in standin.request_log]
    assert ops.index("bridges.removeChannel") < ops.index("channels.continueInDialplan")
    caller = standin.channels[cid]  # still alive, now in the dialplan
    assert caller.continued_to == ("from-internal", "101", 1) and caller.app is None
    row = await store.get_call(row_id(call))
    assert row is not None and row.status == CallStatus.TRANSFERRED
    assert not standin.bridges and not standin.live_channels("unicast")


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        ("answer", TransferOutcome.CONNECTED),
        ("busy", TransferOutcome.BUSY),
        ("noanswer", TransferOutcome.NO_ANSWER),
    ],
)
async def test_given_an_announced_transfer_then_the_desk_is_briefed_and_bridged_or_the_caller_comes_back(
    standin: AsteriskStandin, settings: Settings, store: CallStore, behaviour: str, outcome: TransferOutcome
) -> None:
    standin.set_endpoint_behaviour("PJSIP/100", behaviour, delay_s=0.05)
    standin.set_sound_duration("sound:transfer-brief", 0.05)
    standin.set_sound_duration("sound:vm-nobodyavail", 0.05)
    results: list[Any] = []
    steps: list[tuple[str, Any]] = [
        (
            "announced_transfer",
            {
                "extension": "100",
                "briefing": ["sound:transfer-brief"],
                "answer_timeout_s": 0.5,
                "fallback_media": "sound:vm-nobodyavail",
            },
        )
    ]
    async with running_manager(settings, store, control_conversation(steps, results)) as manager:
        cid = standin.place_call(caller_number="+15557654321")
        await eventually(lambda: bool(results))
        call = manager.calls[cid]
        assert results == [outcome]
        desk_id = next(r.query["channelId"] for r in standin.request_log if r.op == "channels.originate")
        originate = next(r.query for r in standin.request_log if r.op == "channels.originate")
        assert originate["endpoint"] == "PJSIP/100" and originate["app"] == "hotel-operator"
        assert originate["callerId"] == "+15557654321" and desk_id.startswith(f"{OWN_ID_PREFIX}desk-")
        if outcome is TransferOutcome.CONNECTED:
            assert call.state is CallState.HANDED_OFF
            bridge = standin.bridges[call.bridge_id or ""]
            assert sorted(bridge.channels) == sorted([cid, desk_id])  # our media stepped out
            plays = [r for r in standin.request_log if r.op == "channels.play"]
            assert plays[0].path == f"/ari/channels/{desk_id}/play"  # the briefing went to the desk
            standin.hangup_caller(desk_id)  # the desk finishes: the caller is hung up too
        else:
            assert call.state is CallState.ACTIVE and not call.on_hold
            plays = [r for r in standin.request_log if r.op == "channels.play"]
            assert [p.query["media"] for p in plays] == ["sound:vm-nobodyavail"]
            assert plays[0].path == f"/ari/channels/{cid}/play"
            standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    assert [r.op for r in standin.request_log].count("channels.startMoh") == 1
    row = await store.get_call(row_id(call))
    assert row is not None
    assert row.status == (
        CallStatus.TRANSFERRED if outcome is TransferOutcome.CONNECTED else CallStatus.COMPLETED
    )
    assert not standin.live_channels() and not standin.bridges


async def test_given_a_callback_then_an_outbound_call_into_our_app_becomes_a_call(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    frames: dict[str, int] = {}
    standin.set_endpoint_behaviour("PJSIP/trunk/+15551112222", "answer", 0.05)
    standin.set_endpoint_behaviour("PJSIP/trunk/+15553334444", "busy", 0.05)
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        result = await manager.originate(
            "PJSIP/trunk/+15551112222", caller_id="Hotel <+15550000000>", timeout_s=5
        )
        assert result.answered and result.call is not None
        call = result.call
        await eventually(lambda: frames.get(call.channel_id, 0) > 5)
        busy = await manager.originate("PJSIP/trunk/+15553334444", timeout_s=5)
        assert not busy.answered and busy.cause == 17 and busy.call is None
        standin.hangup_caller(call.channel_id)
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(row_id(call))
    assert row is not None and row.direction == "outbound" and row.called_number == "trunk/+15551112222"
    assert [r.op for r in standin.request_log if r.path.endswith("/answer")] == []  # answered by the far end


async def test_given_the_caller_hangs_up_while_the_desk_rings_then_the_desk_leg_is_cancelled(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    standin.set_endpoint_behaviour("PJSIP/100", "answer", delay_s=3.0)
    results: list[Any] = []
    steps: list[tuple[str, Any]] = [("announced_transfer", {"extension": "100", "answer_timeout_s": 10})]
    async with running_manager(settings, store, control_conversation(steps, results)) as manager:
        cid = standin.place_call()
        await eventually(
            lambda: any(c.kind == "outbound" and c.state == "Ringing" for c in standin.live_channels())
        )
        call = manager.calls[cid]
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    assert results == []  # the conversation was cancelled with the call
    desk = next(r.query["channelId"] for r in standin.request_log if r.op == "channels.originate")
    assert f"/ari/channels/{desk}" in [r.path for r in standin.request_log if r.op == "channels.hangup"]
    assert not standin.live_channels() and not standin.bridges
    row = await store.get_call(row_id(call))
    assert row is not None and row.end_reason == "caller_hangup"


async def test_given_tasks_a_conversation_spawns_on_the_call_then_they_end_with_the_call(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def watcher() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append("watcher")
            raise

    async def talk(session: CallSession) -> None:
        call: Any = session
        call.spawn(watcher(), "watcher")
        await asyncio.Event().wait()

    async with running_manager(settings, store, talk) as manager:
        cid = standin.place_call()
        await asyncio.wait_for(started.wait(), 5)
        call = manager.calls[cid]
        assert any(t.get_name() == f"call:{call.tag}:watcher" for t in asyncio.all_tasks())
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    assert cancelled == ["watcher"]
    assert not any(t.get_name().startswith(f"call:{call.tag}") for t in asyncio.all_tasks() if not t.done())
