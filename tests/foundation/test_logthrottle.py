"""A dependency that stays down is logged once per outage, with reminders (issue 17 F5)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from ari_app.ami import AmiMonitor
from ari_app.logthrottle import OutageLog


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warnings_of(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name and r.levelno == logging.WARNING]


def test_given_an_hour_of_retries_every_10_s_when_logged_then_one_warning_plus_a_reminder_every_5_min(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test.outage")
    outage = OutageLog(logger, "ARI events on pbx1", remind_s=300, clock=clock)
    caplog.set_level(logging.DEBUG, logger="test.outage")
    for _ in range(360):  # one hour at the 10 s backoff cap
        outage.failed("Cannot connect to host 127.0.0.1:8088", retry_in_s=10)
        clock.now += 10
    lines = warnings_of(caplog, "test.outage")
    assert len(lines) == 1 + 11  # the first failure, then one reminder per 5 minutes
    assert lines[0].startswith("ARI events on pbx1: Cannot connect")
    assert "still failing (31 attempts over 300 s)" in lines[1]
    outage.recovered()
    infos = [r.getMessage() for r in caplog.records if r.name == "test.outage" and r.levelno == logging.INFO]
    assert infos == ["ARI events on pbx1 recovered after 360 failed attempts (3600 s)"]


def test_given_the_failure_changes_when_logged_then_the_new_reason_is_warned_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = OutageLog(logging.getLogger("test.outage2"), "AMI 127.0.0.1:5038", clock=clock)
    caplog.set_level(logging.DEBUG, logger="test.outage2")
    assert outage.failed("ConnectionRefusedError") is True
    clock.now += 10
    assert outage.failed("ConnectionRefusedError") is False
    clock.now += 10
    assert outage.failed("Authentication failed") is True
    assert len(warnings_of(caplog, "test.outage2")) == 2


def test_given_no_failure_when_recovered_then_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.outage3")
    OutageLog(logging.getLogger("test.outage3"), "x").recovered()
    assert not caplog.records


async def test_given_ami_down_when_monitor_retries_many_times_then_a_single_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    caplog.set_level(logging.DEBUG, logger="ari_app.ami.monitor")
    mon = AmiMonitor("127.0.0.1", port, "hotel", "pw", reconnect_min_s=0.001, reconnect_max_s=0.002)
    task = asyncio.create_task(mon.run())
    try:
        for _ in range(2000):  # bounded: 20 s at most on a loaded machine
            if mon.reconnects >= 20:
                break
            await asyncio.sleep(0.01)
    finally:
        await mon.stop()
        await task
    assert mon.reconnects >= 20
    assert len(warnings_of(caplog, "ari_app.ami.monitor")) == 1
    assert mon.health()["last_error"] is not None
