"""The API over real calls in the Asterisk stand-in: live state, hang-up over ARI, outbound
through ARI originate via the configured trunk (issue 13)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import context, served

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ari"))

from arikit import FIXTURES, eventually, make_settings, next_media_settings, running_manager  # noqa: E402

from ari_app.http.wiring import end_call_in, live_calls_of, place_call_via  # noqa: E402
from ari_app.standin import AsteriskStandin  # noqa: E402
from models import VoiceCall  # noqa: E402
from models.store import CallStore  # noqa: E402


async def test_given_a_stand_in_call_when_staff_end_it_over_the_api_then_ari_hangs_it_up_and_the_row_says_why(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    standin = AsteriskStandin(rtp_source=FIXTURES / "basic-rtp-in.ulaw", seed=5)
    await standin.start()
    try:
        settings = make_settings(standin, next_media_settings())
        store = CallStore(sqlite_sessions)
        async with running_manager(settings, store) as manager:
            ctx = context(sqlite_sessions, live_calls=live_calls_of([manager]), end_call=end_call_in([manager]))
            async with served(ctx) as client:
                channel = standin.place_call(caller_number="+15550104444", caller_name="Ana Silva")
                await eventually(lambda: channel in manager.calls and manager.calls[channel].state.value == "active")
                listed = (await (await client.get("/voice/sessions")).json())["sessions"]
                assert [(s["caller_id"], s["state"], s["caller_name"]) for s in listed] == [
                    ("+15550104444", "active", "Ana Silva")]
                sid = listed[0]["session_id"]
                resp = await client.post(f"/voice/sessions/{sid}/end", json={"reason": "front desk"})
                assert resp.status == 202
                await eventually(lambda: channel not in manager.calls)
                assert any(r.op == "channels.hangup" and r.path.endswith(channel) for r in standin.request_log)
                assert (await (await client.get("/voice/sessions")).json())["sessions"] == []
        async with sqlite_sessions() as db:
            row = await db.scalar(select(VoiceCall).where(VoiceCall.session_id == sid))
        assert row is not None and row.status == "completed" and row.end_reason == "ended_by_staff: front desk"
    finally:
        await standin.stop()


async def test_given_an_outbound_request_then_ari_originates_via_the_trunk_and_the_session_shows_the_events(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    standin = AsteriskStandin(rtp_source=FIXTURES / "basic-rtp-in.ulaw", seed=6)
    await standin.start()
    try:
        settings = make_settings(standin, next_media_settings())
        standin.set_endpoint_behaviour("PJSIP/+15551239876@trunk", "answer", 0.05)
        store = CallStore(sqlite_sessions)
        async with running_manager(settings, store) as manager:
            ctx = context(sqlite_sessions, live_calls=live_calls_of([manager]),
                          place_call=place_call_via([manager], settings, 10))
            async with served(ctx) as client:
                resp = await client.post("/voice/calls/outbound", json={"number": "+15551239876", "purpose": "reminder"})
                assert resp.status == 202
                rid = (await resp.json())["id"]
                async with asyncio.timeout(30):  # a loaded CI machine: wait on the state, not a count
                    while True:
                        out = await (await client.get(f"/voice/calls/outbound/{rid}")).json()
                        if out["status"] not in ("queued", "dialing"):
                            break
                        await asyncio.sleep(0.02)
                assert out["status"] == "answered" and out["session_id"]
                originate = next(r for r in standin.request_log if r.op.startswith("channels.originate"))
                assert originate.query["endpoint"] == "PJSIP/+15551239876@trunk"
                # the answered call finds its request (purpose, message) by its Stasis argument
                assert originate.query["appArgs"] == f"outbound,{rid}"
                live = next(iter(manager.calls.values()), None)
                if live is not None:
                    assert tuple(live.args) == ("outbound", rid)
                session = await (await client.get(f"/voice/sessions/{out['session_id']}")).json()
                assert session["direction"] == "outbound"
                assert [e["kind"] for e in session["events"]] == ["queued", "dialing", "answered"]
    finally:
        await standin.stop()


class SlowOpeningStore(CallStore):
    """A database that takes its time over the new call's row (a busy SQLite file, say)."""

    async def open_call(self, **kwargs: Any) -> int:
        await asyncio.sleep(0.4)
        return await super().open_call(**kwargs)


async def test_given_a_slow_database_when_an_outbound_call_is_answered_then_its_session_is_there_when_announced(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    standin = AsteriskStandin(rtp_source=FIXTURES / "basic-rtp-in.ulaw", seed=7)
    await standin.start()
    try:
        settings = make_settings(standin, next_media_settings())
        standin.set_endpoint_behaviour("PJSIP/+15551239877@trunk", "answer", 0.05)
        async with running_manager(settings, SlowOpeningStore(sqlite_sessions)) as manager:
            place = place_call_via([manager], settings, 10)
            result = await place("+15551239877", {})
            assert result.answered and result.session_id
            async with sqlite_sessions() as db:  # announced answered: the row is already written
                row = await db.scalar(select(VoiceCall).where(VoiceCall.session_id == result.session_id))
            assert row is not None and row.direction == "outbound"
    finally:
        await standin.stop()
