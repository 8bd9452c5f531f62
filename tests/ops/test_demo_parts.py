"""The demo's own parts: when it stops waiting, what it prints about the call, who calls."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ari_app.demo import _agent_reply_done, fresh_caller_number, reservation_line, unspoken_notice
from ari_app.media.rtp import build_rtp_header
from ari_app.standin.rtp import RtpLeg
from models import Reservation

VOICE = bytes(range(0, 160))  # not μ-law silence (0xFF)


async def _send_voice(port: int, frames: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(frames):
            sock.sendto(build_rtp_header(seq == 0, 0, seq, seq * 160, 1234) + VOICE, ("127.0.0.1", port))


async def test_given_the_agent_spoke_and_then_the_channel_went_away_when_waiting_then_the_wait_ends_at_once() -> None:
    leg = RtpLeg(("127.0.0.1", 9))
    port = await leg.open()
    try:
        await _send_voice(port, 5)
        for _ in range(3000):  # real UDP on loopback: wait for the datagrams (generous bound)
            if len(leg.captured) >= 5:
                break
            await asyncio.sleep(0.01)
        assert len(leg.captured) == 5
        gone = asyncio.Event()

        async def hang_up_soon() -> None:
            await asyncio.sleep(0)
            gone.set()

        hang = asyncio.create_task(hang_up_soon())
        # no idle packet will ever follow: before the fix this sat out the whole timeout (an hour here)
        done = await asyncio.wait_for(_agent_reply_done(leg, 0, gone.is_set, timeout_s=3600), 60)
        await hang
        assert done is True
    finally:
        leg.close()


async def test_given_the_channel_gone_before_any_reply_when_waiting_then_it_reports_no_reply() -> None:
    leg = RtpLeg(("127.0.0.1", 9))
    await leg.open()
    try:
        done = await asyncio.wait_for(_agent_reply_done(leg, 0, lambda: True, timeout_s=3600), 60)
        assert done is False
    finally:
        leg.close()


def _reservation(children: int) -> Reservation:
    return Reservation(
        confirmation_code="9E397J",
        guest_name="John Smith",
        check_in=date(2026, 12, 20),
        check_out=date(2026, 12, 23),
        adults=2,
        children=children,
        total=Decimal("477.00"),
        currency="USD",
    )


def test_given_a_booking_with_children_when_summarised_then_the_children_are_shown() -> None:
    assert reservation_line(_reservation(2)) == (
        "reservation 9E397J: John Smith, 2026-12-20 → 2026-12-23, 2 adults, 2 children, total 477.00 USD"
    )
    assert ", 1 child," in reservation_line(_reservation(1))
    assert "child" not in reservation_line(_reservation(0))


def test_given_a_call_that_ended_early_when_the_script_had_more_then_the_unsaid_lines_are_listed() -> None:
    lines = ["Front desk, please.", "I need towels.", "Thanks, bye."]
    notice = unspoken_notice(lines, 1)
    assert notice[0] == "the call ended before the caller said 2 more line(s):"
    assert notice[1:] == ["  not said: I need towels.", "  not said: Thanks, bye."]
    assert unspoken_notice(lines, 3) == []


def test_given_a_scripted_card_number_when_the_call_ended_early_then_the_notice_masks_it() -> None:
    notice = unspoken_notice(["Hi.", "My card is 4111 1111 1111 1111, security code 123."], 1)
    assert "4111" not in " ".join(notice) and "123" not in " ".join(notice)


def test_given_two_demo_runs_when_no_caller_given_then_each_calls_from_its_own_number() -> None:
    numbers = {fresh_caller_number() for _ in range(50)}
    assert len(numbers) >= 49  # 10^7 choices: two clashes in 50 draws is a one-in-10^8 event
    assert all(n.startswith("+1555") and len(n) == 12 and n[1:].isdigit() for n in numbers)


def test_given_no_api_docs_when_the_demo_picks_its_description_then_it_says_so_at_info_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import ari_app.demo as demo

    monkeypatch.setattr(demo, "default_api_docs_dir", lambda: tmp_path / "absent")
    with caplog.at_level(logging.DEBUG):
        spec = demo.demo_spec()
    assert "project's own description" in spec.source
    assert [r.levelno for r in caplog.records] == [logging.INFO]
