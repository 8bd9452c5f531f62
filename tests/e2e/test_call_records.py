"""What a keypad call leaves in the database (issue 16 D8): key presses, menu prompts and the
information played are turns (``input_mode`` dtmf), in order, so a call transferred by key has a
transcript. Stand-in Asterisk, ARI, real RTP, keypad-only service, a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import Stack, running_stack, wait_for
from sqlalchemy import select

from models import ConversationTurn, VoiceCall


async def _turns(stack: Stack, channel: str) -> tuple[VoiceCall, list[ConversationTurn]]:
    async with stack.service.sessions() as db:
        row = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()
        q = select(ConversationTurn).where(ConversationTurn.call_id == row.id)
        return row, list((await db.execute(q.order_by(ConversationTurn.turn_number))).scalars())


async def _until_turns(stack: Stack, channel: str, n: int) -> None:
    async with asyncio.timeout(30):  # generous: a loaded 2-core machine
        while len((await _turns(stack, channel))[1]) < n:  # noqa: ASYNC110 - the rows are in SQLite
            await asyncio.sleep(0.05)


async def test_given_a_caller_who_presses_1_then_2_then_the_transcript_has_the_menus_and_the_keys(
    tmp_path: Path, menu_file: Path
) -> None:
    env = {"HOTEL_OPERATOR_IVR__MENU_FILE": str(menu_file), "HOTEL_OPERATOR_IVR__START_IN_MENU": "true"}
    async with running_stack(tmp_path, env=env) as stack:
        ch = stack.standin.place_call(caller_number="+15550009", did="+15550100")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        # press once the welcome menu is under way: a key typed ahead of it is (rightly) stored first
        await _until_turns(stack, ch, 1)
        stack.standin.send_dtmf(ch, "1")
        await _until_turns(stack, ch, 3)  # the reservations menu is on its way
        stack.standin.send_dtmf(ch, "1")
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        row, turns = await _turns(stack, ch)
    assert row.status == "transferred"
    # a busy machine may let the 0.4 s menu timeout speak its "did not hear a choice" in between
    seen = [
        (t.role, t.input_mode, t.content) for t in turns if not t.content.startswith("Sorry, I did not hear")
    ]
    assert seen == [
        ("agent", "dtmf", "Welcome. For reservations press 1. For the front desk press 2."),
        ("caller", "dtmf", "1"),
        ("agent", "dtmf", "For a new booking press 1."),
        ("caller", "dtmf", "1"),
    ]
    assert [t.turn_number for t in turns] == list(range(1, len(turns) + 1))
    assert "caller: 1" in row.transcript


async def test_given_a_blocked_number_then_it_hears_goodbye_is_hung_up_and_the_row_says_blocked(
    tmp_path: Path, menu_file: Path
) -> None:
    from datetime import UTC, datetime

    from ari_app.screening import set_entry

    env = {"HOTEL_OPERATOR_IVR__MENU_FILE": str(menu_file), "HOTEL_OPERATOR_IVR__START_IN_MENU": "true"}
    async with running_stack(tmp_path, env=env) as stack:
        stack.standin.set_sound_duration("sound:vm-goodbye", 0.1)
        await set_entry(stack.service.sessions, "+1 555 000 6666", "block", "spam", datetime.now(UTC))
        ch = stack.standin.place_call(caller_number="+15550006666")
        await wait_for(lambda: ch in stack.standin.ended_channels, 10, "hung up")
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        row, turns = await _turns(stack, ch)
    plays = [r.query["media"] for r in stack.standin.requests("channels.play") if ch in r.path]
    assert plays == ["sound:vm-goodbye"]
    assert (row.status, row.end_reason) == ("completed", "blocked")
    assert [(t.role, t.content) for t in turns] == [("agent", "Goodbye.")]
