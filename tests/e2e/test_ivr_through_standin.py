"""The keypad menu on live calls: stand-in Asterisk, ARI, real RTP, the IVR engine, a real SQLite file.

The service runs keypad-only here (no speech models), so prompts are tones; what is asserted is what
Asterisk is asked to do and what is left in the database.
"""

from __future__ import annotations

from pathlib import Path

from e2e_support import Stack, running_stack, wait_for
from sqlalchemy import select

from ari_app.media.g711 import ulaw_decode
from models import VoiceCall


def _env(menu: Path) -> dict[str, str]:
    return {"HOTEL_OPERATOR_IVR__MENU_FILE": str(menu), "HOTEL_OPERATOR_IVR__START_IN_MENU": "true"}


async def _call_row(stack: Stack, channel: str) -> VoiceCall:
    async with stack.service.sessions() as db:
        return (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()


def _continues(standin: object, channel: str) -> list[dict[str, str]]:
    return [
        r.query for r in standin.requests("channels.continueInDialplan")  # type: ignore[attr-defined]
        if f"/channels/{channel}/" in r.path
    ]


async def test_given_main_menu_when_caller_presses_2_then_front_desk_transfer_is_requested(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(menu_file)) as stack:
        ch = stack.standin.place_call(caller_number="+15550001", did="+15550100")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        stack.standin.send_dtmf(ch, "2")
        await wait_for(lambda: _continues(stack.standin, ch), 10, "continue requested")
        assert _continues(stack.standin, ch)[0]["extension"] == "100"  # hotel.departments["front desk"]
        # into the rendered dialplan's desk context, not the trunk context the caller came from
        assert _continues(stack.standin, ch)[0]["context"] == "hotel-phones"
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        row = await _call_row(stack, ch)
        assert row.status == "transferred"
        assert row.end_reason.startswith("transferred")


async def test_given_main_menu_when_caller_presses_9_three_times_then_final_invalid_destination(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(menu_file)) as stack:
        ch = stack.standin.place_call(caller_number="+15550002")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        for _ in range(3):
            stack.standin.send_dtmf(ch, "9")
        # invalid destination of the test menu is "hangup": we hang the caller up over ARI
        await wait_for(lambda: stack.standin.requests("channels.hangup"), 10, "hangup requested")
        assert not _continues(stack.standin, ch)
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        row = await _call_row(stack, ch)
        assert row.status in ("completed",)
        assert row.ended_at is not None


async def test_given_main_menu_when_caller_presses_nothing_then_timeout_destination_is_used(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(menu_file)) as stack:
        ch = stack.standin.place_call(caller_number="+15550003")
        await wait_for(lambda: _continues(stack.standin, ch), 20, "timeout destination reached")
        assert _continues(stack.standin, ch)[0]["extension"] == "555"
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
        row = await _call_row(stack, ch)
        assert row.status == "transferred"


async def test_given_prompt_playing_when_caller_presses_1_then_prompt_is_cut_and_next_menu_follows(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(menu_file)) as stack:
        ch = stack.standin.place_call(caller_number="+15550004")
        await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
        leg = stack.media_leg(ch)
        assert leg is not None

        def voiced() -> list[int]:
            return [i for i, p in enumerate(leg.captured) if abs(ulaw_decode(p.payload)).max() > 500]

        await wait_for(lambda: len(voiced()) >= 5, 10, "prompt started")
        mark = len(leg.captured)
        stack.standin.send_dtmf(ch, "1")
        await wait_for(lambda: len(leg.captured) > mark + 25, 10, "half a second more audio")
        # after the key: at most a few frames of the first prompt, then the reservations prompt
        # starts; the gap of silence in between shows the first prompt was cut, not played out
        after = [i for i in voiced() if i >= mark]
        gap = next((b - a for a, b in zip(after, after[1:], strict=False) if b - a > 1), None)
        assert after and after[0] - mark <= 5, "first prompt kept playing after the key"
        assert gap is not None or len(after) < 20
        stack.standin.send_dtmf(ch, "1")
        await wait_for(lambda: _continues(stack.standin, ch), 10, "reservations transfer")
        assert _continues(stack.standin, ch)[0]["extension"] == "101"


async def test_given_two_calls_when_one_fails_setup_then_the_other_still_gets_its_menu(
    tmp_path: Path, menu_file: Path
) -> None:
    async with running_stack(tmp_path, env=_env(menu_file)) as stack:
        stack.standin.fail_next("channels.externalMedia", 500)
        calls = [stack.standin.place_call(caller_number=f"+1555000{i}") for i in (5, 6)]
        # which of the two reaches externalMedia first is up to the event loop
        await wait_for(lambda: any(stack.media_leg(c) is not None for c in calls), 10, "one call bridged")
        good = next(c for c in calls if stack.media_leg(c) is not None)
        bad = next(c for c in calls if c != good)
        stack.standin.send_dtmf(good, "2")
        await wait_for(lambda: _continues(stack.standin, good), 10, "good call transferred")
        await wait_for(lambda: not stack.service.managers[0].calls, 10, "calls released")
        assert (await _call_row(stack, bad)).status == "failed"
        assert (await _call_row(stack, good)).status == "transferred"
        assert _continues(stack.standin, good)[0]["extension"] == "100"
