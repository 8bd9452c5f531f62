"""Realtime mode on a live call: stand-in Asterisk → RTP → the OpenAI Realtime bridge (real `openai`
client, local server speaking the GA protocol) → the hotel tools → a transfer carried out over ARI."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from e2e_support import running_stack, wait_for
from fake_realtime import FakeRealtimeConnection, FakeRealtimeServer
from sqlalchemy import select

from models import ConversationTurn, ToolRun, VoiceCall
from models.seed import seed_demo_hotel


async def test_given_realtime_mode_when_model_checks_rooms_and_transfers_then_tools_run_and_caller_is_transferred(
    tmp_path: Path,
) -> None:
    check_in = date.today() + timedelta(days=30)
    args = {"check_in": check_in.isoformat(), "check_out": (check_in + timedelta(days=2)).isoformat(), "adults": 2}
    seen: dict[str, Any] = {}

    async def expect(conn: FakeRealtimeConnection, event_type: str) -> Any:
        """The next ``event_type``, passing over barge-in housekeeping (truncate/cancel), whose
        timing depends on how much of the greeting had played when the caller spoke."""
        while True:
            event = await conn.next_event()
            if event.type == event_type:
                return event
            assert event.type in ("conversation.item.truncate", "response.cancel", "input_audio_buffer.append"), event

    async def script(conn: FakeRealtimeConnection) -> None:
        await conn.expect("session.update")
        await conn.expect("response.create")  # the bridge asks for a greeting
        await conn.response_created("resp_g")
        await conn.audio_delta("resp_g", "item_g", b"\x10" * 1600)  # 200 ms of agent audio
        await conn.agent_transcript("resp_g", "item_g", "Harbour View Hotel, how can I help?")
        await conn.response_done("resp_g")
        seen["caller_audio"] = await conn.audio(1600)  # the caller's RTP, forwarded untouched
        await conn.speech_started("item_c")
        await conn.speech_stopped("item_c", 800)
        await conn.caller_transcript("item_c", "A room for two next month please, then the front desk.")
        await conn.response_created("resp_1")
        await conn.function_call("resp_1", "item_f1", "call_1", "check_availability", json.dumps(args))
        seen["tool_output"] = await expect(conn, "conversation.item.create")
        await conn.response_done("resp_1")
        await expect(conn, "response.create")
        await conn.response_created("resp_2")
        await conn.function_call("resp_2", "item_f2", "call_2", "transfer_to_human", '{"department": "front desk"}')
        await expect(conn, "conversation.item.create")
        await conn.response_done("resp_2")
        await conn.closed.wait()

    async with FakeRealtimeServer(script) as server:
        env = {
            "HOTEL_OPERATOR_BRAIN__MODE": "realtime",
            "HOTEL_OPERATOR_BRAIN__OPENAI_BASE_URL": server.base_url,
            "HOTEL_OPERATOR_BRAIN__OPENAI_API_KEY": "sk-local-test",
        }
        async with running_stack(tmp_path, env=env) as stack:
            await seed_demo_hotel(stack.service.sessions)
            ch = stack.standin.place_call(caller_number="+15558880001", did="+15550100")

            def continued() -> list[Any]:
                return [r for r in stack.standin.requests("channels.continueInDialplan") if f"/channels/{ch}/" in r.path]

            await wait_for(continued, 20, "transfer requested")
            assert continued()[0].query["extension"] == "100"
            await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
            async with stack.service.sessions() as db:
                call = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == ch))).scalar_one()
                runs = (await db.execute(select(ToolRun).where(ToolRun.call_id == call.id))).scalars().all()
                turns = (await db.execute(select(ConversationTurn).where(ConversationTurn.call_id == call.id)
                                          .order_by(ConversationTurn.turn_number))).scalars().all()
    # the tool really ran against the seeded hotel and its answer went back to the model
    assert [r.tool_name for r in runs] == ["check_availability", "transfer_to_human"]
    assert all(r.ok for r in runs)
    output = json.loads(seen["tool_output"].item.output)
    assert output["summary"] and "King Deluxe" in json.dumps(output)
    # the caller's audio reached the model as μ-law, as the stand-in sent it (silence in the records' file
    # is 0xFF; the stand-in's default source is silence)
    assert len(seen["caller_audio"]) == 1600
    assert call.status == "transferred"
    assert [t.role for t in turns][:2] == ["agent", "caller"]
    assert "front desk" in turns[1].content
