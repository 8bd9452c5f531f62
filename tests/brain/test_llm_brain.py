"""The LLM brain through the real ``openai`` client against a local chat-completions SSE server."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from brainkit import (
    FakeChatServer,
    count,
    expected_total,
    new_call,
    nights_of,
    reservations,
    say,
    span,
    text_reply,
    tool_reply,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.brain import EmbeddedBrain, LlmBrain, make_brain
from ari_app.settings import Settings
from models.calls import ToolRun
from models.hotel import Message, Reservation

Sessions = async_sessionmaker[AsyncSession]


def _llm_settings(settings: Settings, server: FakeChatServer, timeout: float = 5.0) -> Settings:
    settings.brain.mode = "llm"
    settings.brain.openai_base_url = server.url
    settings.brain.model = "fake-model"
    settings.brain.step_timeout_s = timeout
    return settings


async def test_given_model_calls_availability_then_result_goes_back_and_reply_streams_by_sentence(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer
) -> None:
    brain = make_brain(_llm_settings(settings, llm_server))
    assert isinstance(brain, LlmBrain)
    ctx = await new_call(hotel, settings)
    args = {"check_in": "2026-12-03", "check_out": "2026-12-05", "adults": 2}
    llm_server.script = [
        tool_reply("check_availability", json.dumps(args)),
        text_reply(
            "The Standard Queen is free for those two nights. It comes to 258 dollars in total. Shall I book it?"
        ),
    ]
    r = await say(brain, ctx, "do you have a room december third to fifth for two")
    (called,) = r.tools
    assert called.name == "check_availability" and called.ok and called.result["options"]
    assert len(r.says) == 3  # three sentences, each spoken as soon as it was complete
    second = llm_server.requests[1]["messages"]
    tool_msg = next(m for m in second if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == "call_1" and json.loads(tool_msg["content"])["options"]
    assistant = next(m for m in second if m["role"] == "assistant" and m.get("tool_calls"))
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == args
    assert llm_server.requests[0]["stream"] is True and llm_server.requests[0]["tools"]
    assert llm_server.requests[0]["max_tokens"] == settings.brain.max_tokens
    async with hotel() as db:
        assert (await db.execute(select(ToolRun.tool_name))).scalars().all() == ["check_availability"]

    booking = {**args, "room_type": "STD", "guest_name": "Jane Doe"}
    llm_server.script = [
        tool_reply("create_reservation", json.dumps(booking), call_id="call_2"),
        text_reply("You're booked."),
    ]
    await say(brain, ctx, "yes book it for jane doe")
    (res,) = await reservations(hotel)
    assert (res.check_in, res.check_out) == (date(2026, 12, 3), date(2026, 12, 5))
    assert res.total == await expected_total(hotel, "STD", res.check_in, res.check_out)


@pytest.mark.parametrize(
    "arguments",
    [
        json.dumps(
            {
                "check_in": "2026-12-03",
                "check_out": "2026-12-05",
                "adults": 40,
                "room_type": "STD",
                "guest_name": "Al Bo",
            }
        ),
        '{"check_in": "2026-12-03", "check_out": ',  # truncated JSON
    ],
)
async def test_given_invalid_tool_arguments_then_error_returned_to_model_and_nothing_executed(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer, arguments: str
) -> None:
    brain = make_brain(_llm_settings(settings, llm_server))
    ctx = await new_call(hotel, settings)
    llm_server.script = [
        tool_reply("create_reservation", arguments),
        text_reply("I'm sorry, I can only book up to eight guests at once."),
    ]
    r = await say(brain, ctx, "book it")
    (called,) = r.tools
    assert not called.ok and "sorry" in r.text.lower()
    tool_msg = next(m for m in llm_server.requests[1]["messages"] if m["role"] == "tool")
    payload = json.loads(tool_msg["content"])
    assert payload["error"] == "invalid_arguments" and payload["message"]
    assert await count(hotel, Reservation) == 0


async def test_given_endpoint_hangs_then_embedded_brain_answers_and_log_says_so(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    brain = make_brain(_llm_settings(settings, llm_server, timeout=0.3))
    ctx = await new_call(hotel, settings)
    llm_server.script = ["hang"]
    with caplog.at_level(logging.WARNING, logger="ari_app.brain.llm"):
        r = await say(brain, ctx, "i'd like to book a room from december 3rd to the 5th")
    assert "how many guests" in r.text.lower()  # the embedded brain took the turn
    assert ctx.llm_failed and any("falling back" in rec.getMessage() for rec in caplog.records)
    r = await say(brain, ctx, "two adults")  # the rest of the call stays on the embedded brain
    assert "which would you like" in r.text.lower() and len(llm_server.requests) == 1


async def test_given_endpoint_unreachable_or_erroring_then_fallback(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer
) -> None:
    settings = _llm_settings(settings, llm_server)
    llm_server.script = ["error"]
    ctx = await new_call(hotel, settings)
    r = await say(make_brain(settings), ctx, "what time is check in")
    assert ctx.facts.topics["check_in"].answer in r.text and ctx.llm_failed
    settings.brain.openai_base_url = "http://127.0.0.1:9/v1"  # nothing listens there
    ctx2 = await new_call(hotel, settings, session_id="call-2")
    r = await say(make_brain(settings), ctx2, "do you allow dogs")
    assert ctx2.llm_failed and ctx.facts.topics["pets"].answer in r.text


async def test_given_model_transfers_then_action_ends_the_turn(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer
) -> None:
    brain = make_brain(_llm_settings(settings, llm_server))
    ctx = await new_call(hotel, settings)
    llm_server.script = [tool_reply("transfer_to_human", json.dumps({"department": "housekeeping"}))]
    r = await say(brain, ctx, "i need more towels")
    assert (
        r.actions[-1].kind == "transfer"
        and r.actions[-1].data["extension"] == settings.hotel.departments["housekeeping"]
    )
    assert r.text  # something is said before the transfer
    assert len(llm_server.requests) == 1


async def test_given_turn_cap_reached_then_handed_to_front_desk(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer
) -> None:
    settings = _llm_settings(settings, llm_server)
    settings.brain.max_turns = 1
    brain = make_brain(settings)
    ctx = await new_call(hotel, settings)
    await say(brain, ctx, "hello")
    r = await say(brain, ctx, "hello again")
    assert r.actions[-1].kind == "transfer" and len(llm_server.requests) == 1


async def test_given_model_previews_then_applies_modify_reservation_then_booking_extended_in_place(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer
) -> None:
    earlier = await new_call(hotel, settings, session_id="earlier")
    booked, _ = await earlier.run_tool(
        "create_reservation",
        {
            "check_in": "2026-12-03",
            "check_out": "2026-12-05",
            "adults": 2,
            "room_type": "STD",
            "guest_name": "Jane Doe",
        },
    )
    assert booked is not None
    (before,) = await reservations(hotel)
    brain = make_brain(_llm_settings(settings, llm_server))
    ctx = await new_call(hotel, settings)
    llm_server.script = [
        tool_reply("modify_reservation", json.dumps({"check_out": "2026-12-06", "preview": True})),
        text_reply("One more night makes it 387 dollars, 129 dollars more. Shall I make the change?"),
    ]

    r = await say(brain, ctx, "can we stay one more night")

    offered = {t["function"]["name"] for t in llm_server.requests[0]["tools"]}
    assert "modify_reservation" in offered
    tool_msg = json.loads(
        next(m for m in llm_server.requests[1]["messages"] if m["role"] == "tool")["content"]
    )
    assert (
        tool_msg["preview"]
        and tool_msg["difference"] == "129.00"
        and "Not changed yet" in tool_msg["summary"]
    )
    assert r.tools[0].ok and (await reservations(hotel))[0].check_out == date(2026, 12, 5)

    llm_server.script = [
        tool_reply("modify_reservation", json.dumps({"check_out": "2026-12-06"}), call_id="call_2"),
        text_reply("Done, you now leave on Sunday."),
    ]
    await say(brain, ctx, "yes please")

    (row,) = await reservations(hotel)
    assert (row.confirmation_code, row.room_id, row.check_out) == (
        before.confirmation_code, before.room_id, date(2026, 12, 6),
    )  # fmt: skip
    assert await nights_of(hotel, row.id) == span(before.room_id, date(2026, 12, 3), date(2026, 12, 6))
    assert row.total == await expected_total(hotel, "STD", date(2026, 12, 3), date(2026, 12, 6))
    assert await count(hotel, Message) == 1


@pytest.mark.parametrize(
    ("param", "other"), [("max_tokens", "max_completion_tokens"), ("max_completion_tokens", "max_tokens")]
)
async def test_given_token_limit_param_setting_then_cap_sent_under_that_name_only(
    hotel: Sessions, settings: Settings, llm_server: FakeChatServer, param: str, other: str
) -> None:
    settings = _llm_settings(settings, llm_server)
    settings.brain.token_limit_param = param  # type: ignore[assignment]
    settings.brain.max_tokens = 123
    ctx = await new_call(hotel, settings)
    llm_server.script = [text_reply("Hello, how can I help?")]

    await say(make_brain(settings), ctx, "hello")

    (sent,) = llm_server.requests
    assert sent[param] == 123 and other not in sent


async def test_given_embedded_mode_then_factory_gives_embedded_brain(settings: Settings) -> None:
    assert isinstance(make_brain(settings), EmbeddedBrain)
