"""Bad input ends or skips only the call concerned, and says so in the log with its id: a malformed
event frame, an event for a channel nobody knows, a 500 on answer, a failed externalMedia, an
externalMedia channel that never enters Stasis, no free RTP port, a caller gone during setup."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from arikit import call_of, echo_conversation, eventually, running_manager

from ari_app.calls.call import CallOptions
from ari_app.calls.media import MediaEndpoint, rtp_endpoint_factory
from ari_app.calls.state import CallState
from ari_app.media.errors import PortsExhausted
from ari_app.settings import Settings
from ari_app.standin import AsteriskStandin
from models.calls import CallStatus
from models.store import CallStore


async def _healthy_call(standin: AsteriskStandin, manager: object, frames: dict[str, int]) -> str:
    cid = standin.place_call(caller_number="+15550009999")
    call = await call_of(manager, cid)  # type: ignore[arg-type]
    await eventually(lambda: call.state is CallState.ACTIVE and frames.get(cid, 0) > 3)
    return cid


async def test_given_malformed_frames_and_foreign_channels_then_they_are_logged_skipped_and_calls_go_on(
    standin: AsteriskStandin, settings: Settings, store: CallStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        cid = await _healthy_call(standin, manager, frames)
        call = manager.calls[cid]
        standin.inject_raw("{this is not json")
        standin.inject_raw('{"type": "ChannelDtmfReceived", "channel": {"id": "' + cid + '"}}')  # no digit
        foreign = json.dumps(
            {
                "type": "ChannelDtmfReceived",
                "timestamp": "2026-11-25T14:01:14.075+0000",
                "digit": "1",
                "duration_ms": 200,
                "channel": {"id": "9999999999.99", "name": "PJSIP/other-000000ff", "state": "Up"},
                "application": "hotel-operator",
            }
        )
        standin.inject_raw(foreign)
        standin.inject_raw('{"type": "BrandNewEvent", "application": "hotel-operator"}')
        standin.send_dtmf(cid, "42")
        assert await asyncio.wait_for(call.dtmf.get(), 2) == "4"
        assert await asyncio.wait_for(call.dtmf.get(), 2) == "2"
        assert manager.client.stats.decode_errors == 2
        assert manager.stats.unknown_channel_events == 1
        assert call.state is CallState.ACTIVE and manager.connected.is_set()
        assert manager.client.stats.connects == 1  # the WebSocket was never dropped over it
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    text = caplog.text
    assert "ARI event skipped" in text and "event is not JSON" in text
    assert "lacks required field 'digit'" in text
    assert "ChannelDtmfReceived event for unknown channel 9999999999.99 ignored" in text


@pytest.mark.parametrize(
    ("op", "step"),
    [
        ("channels.answer", "answer"),
        ("channels.externalMedia", "externalMedia"),
        ("bridges.create", "bridge"),
    ],
)
async def test_given_asterisk_fails_one_setup_step_then_only_that_call_ends_and_the_log_names_it(
    standin: AsteriskStandin,
    settings: Settings,
    store: CallStore,
    caplog: pytest.LogCaptureFixture,
    op: str,
    step: str,
) -> None:
    caplog.set_level(logging.INFO)
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        healthy = await _healthy_call(standin, manager, frames)
        standin.fail_next(op, 500)
        bad = standin.place_call(caller_number="+15550000666")
        bad_call = await call_of(manager, bad)
        await asyncio.wait_for(bad_call.finished.wait(), 5)
        after = await _healthy_call(standin, manager, frames)  # the next call is fine
        assert manager.calls[healthy].state is CallState.ACTIVE
        before = frames[healthy]
        await eventually(lambda: frames[healthy] > before + 5)
        for cid in (healthy, after):
            standin.hangup_caller(cid)
        await eventually(lambda: not manager.calls)
    row = await store.get_call(bad_call.row_id)
    assert (
        row is not None
        and row.status == CallStatus.FAILED
        and row.end_reason.startswith(f"setup_failed: {step}")
    )
    failed_lines = [
        r for r in caplog.records if r.levelno == logging.ERROR and "setup failed" in r.getMessage()
    ]
    assert len(failed_lines) == 1 and bad in failed_lines[0].getMessage()
    assert bad_call.session_id[:8] in failed_lines[0].getMessage()
    # the failed caller is handed back to the dialplan (next priority), not left in silence
    caller = standin.channels.get(bad) or standin.ended_channels[bad]
    assert caller.continued_to == ("from-guest", "100", 3)
    # nothing of the failed call is left on Asterisk
    assert not standin.live_channels("unicast") and not standin.bridges


async def test_given_externalmedia_never_enters_stasis_then_the_call_fails_after_the_timeout(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    standin.stasis_start_delay_s = 10.0  # far beyond the 0.3 s we wait
    async with running_manager(
        settings, store, echo_conversation({}), options=CallOptions(media_stasis_timeout_s=0.3)
    ) as manager:
        cid = standin.place_call()
        call = await call_of(manager, cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(call.row_id)
    assert row is not None and (row.status, row.end_reason) == (
        CallStatus.FAILED,
        "setup_failed: externalMedia (no StasisStart)",
    )
    assert not [r for r in standin.request_log if r.op == "bridges.addChannel"]
    assert not standin.live_channels("unicast") and not standin.bridges


async def test_given_no_free_rtp_port_then_that_call_fails_and_the_next_one_works(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    real = rtp_endpoint_factory(settings.media)
    made: list[int] = []

    def factory() -> MediaEndpoint:
        made.append(1)
        if len(made) == 1:

            class Exhausted:
                async def start(self) -> None:
                    raise PortsExhausted("127.0.0.1", 1, 1)

            return Exhausted()  # type: ignore[return-value]
        return real()

    frames: dict[str, int] = {}
    async with running_manager(
        settings, store, echo_conversation(frames), endpoint_factory=factory
    ) as manager:
        first = standin.place_call()
        call = await call_of(manager, first)
        await asyncio.wait_for(call.finished.wait(), 5)
        second = await _healthy_call(standin, manager, frames)
        standin.hangup_caller(second)
        await eventually(lambda: not manager.calls)
    row = await store.get_call(call.row_id)
    assert row is not None and row.end_reason == "setup_failed: media endpoint (PortsExhausted)"
    assert not standin.bridges


async def test_given_the_caller_hangs_up_during_setup_then_the_call_is_abandoned_and_cleaned(
    standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    standin.stasis_start_delay_s = 0.5
    async with running_manager(settings, store, echo_conversation({})) as manager:
        cid = standin.place_call()
        call = await call_of(manager, cid)
        await eventually(lambda: call.state is CallState.WAITING_MEDIA)
        standin.hangup_caller(cid)
        await asyncio.wait_for(call.finished.wait(), 5)
    row = await store.get_call(call.row_id)
    assert row is not None and (row.status, row.end_reason) == (CallStatus.ABANDONED, "caller_hangup")
    deleted = [r.path for r in standin.request_log if r.op in ("channels.hangup", "bridges.destroy")]
    assert deleted == [f"/ari/channels/{call.em_id}", f"/ari/bridges/{call.bridge_id}"]
    await eventually(lambda: not standin.live_channels() and not standin.bridges)


async def test_given_a_frame_nested_thousands_deep_and_a_bogus_dtmf_when_injected_then_service_and_call_go_on(
    standin: AsteriskStandin, settings: Settings, store: CallStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 D2 (a 2 KB frame of nested arrays killed the process) and L3 (a DTMF event whose
    digit is "99" or "" dropped the call out of the agent into the keypad menu)."""
    caplog.set_level(logging.INFO)
    frames: dict[str, int] = {}
    async with running_manager(settings, store, echo_conversation(frames)) as manager:
        cid = await _healthy_call(standin, manager, frames)
        call = manager.calls[cid]
        assert standin.inject_raw("[" * 1000 + "]" * 1000)
        assert standin.inject_raw("[" * 50_000 + "]" * 50_000)
        for digit in ("99", ""):
            assert standin.inject_raw(json.dumps({
                "type": "ChannelDtmfReceived", "timestamp": "2026-11-25T14:01:14.075+0000", "digit": digit,
                "duration_ms": 200, "application": "hotel-operator",
                "channel": {"id": cid, "name": "PJSIP/guest-00000001", "state": "Up"},
            }))
        standin.send_dtmf(cid, "7")
        assert await asyncio.wait_for(call.dtmf.get(), 2) == "7"  # the first key the call sees is the real one
        assert call.dtmf.empty()
        assert manager.client.stats.decode_errors == 4
        assert call.state is CallState.ACTIVE and manager.connected.is_set()
        assert manager.client.stats.connects == 1
        second = await _healthy_call(standin, manager, frames)  # new calls are still answered
        assert manager.calls[second].state is CallState.ACTIVE
        standin.hangup_caller(cid)
        standin.hangup_caller(second)
    skipped = [r.getMessage() for r in caplog.records if "ARI event skipped" in r.getMessage()]
    assert len(skipped) == 4 and any("nests deeper" in m for m in skipped) and any("DTMF key" in m for m in skipped)
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
