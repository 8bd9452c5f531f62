"""A whole service (as `serve` builds it) against the Asterisk stand-in, over real RTP and a real DB."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ari_app.demo import demo_settings
from ari_app.service import Service, build_service
from ari_app.settings import Settings, load_settings
from ari_app.standin.rtp import RtpLeg
from ari_app.standin.server import AsteriskStandin

DAYTIME = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday, inside business hours

# Every wait below ends as soon as its condition holds; the bound only decides how long a *broken*
# run takes to fail. The figures in the tests are what an idle laptop needs; a 2-core CI machine
# running other suites (Whisper and Piper competing for the cores) needs several times that, so
# each bound is multiplied (E2E_WAIT_SCALE=1 restores the figures as written).
WAIT_SCALE = float(os.environ.get("E2E_WAIT_SCALE", "4"))


def bound(timeout_s: float) -> float:
    return timeout_s * WAIT_SCALE


@dataclass
class Stack:
    service: Service
    standin: AsteriskStandin

    def media_leg(self, caller_channel: str) -> RtpLeg | None:
        """The externalMedia leg bridged with ``caller_channel``."""
        for bridge in self.standin.bridges.values():
            if caller_channel in bridge.channels:
                for cid in bridge.channels:
                    ch = self.standin.channels.get(cid)
                    if ch is not None and ch.kind == "unicast" and ch.leg is not None:
                        return ch.leg
        return None


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> None:
    async with asyncio.timeout(bound(timeout_s)):
        # polling is the point: the state lives in the stand-in and the database, not in an Event
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert predicate(), what


async def wait_until(check: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """:func:`wait_for` for a condition that needs an await (a database read, an HTTP request)."""
    try:
        async with asyncio.timeout(bound(timeout_s)):
            while not (result := await check()):  # noqa: ASYNC110 - the state is in the DB, not an Event
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {bound(timeout_s):g} s") from None
    return result


@contextlib.asynccontextmanager
async def running_stack(
    tmp_path: Path, *, env: dict[str, str] | None = None, speech: Any = None, load_speech: bool = False,
    clock: Callable[[], datetime] = lambda: DAYTIME,
) -> AsyncIterator[Stack]:
    base_env = {
        "HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        "HOTEL_OPERATOR_MEDIA__PORT_MIN": "43000",
        "HOTEL_OPERATOR_MEDIA__PORT_MAX": "43199",
        "HOTEL_OPERATOR_SPEECH__PROMPT_CACHE_DIR": str(tmp_path / "prompts"),
        **(env or {}),
    }
    settings: Settings = load_settings(None, env=base_env)
    async with AsteriskStandin(user="hotel", password="e2e-secret", rtp_host="127.0.0.1") as standin:
        cfg = demo_settings(settings, standin, "e2e-secret")
        service = await build_service(cfg, load_speech=load_speech, speech=speech, ivr_clock=clock)
        service.drain_s = 5.0
        task = asyncio.create_task(service.run(), name="e2e-service")
        try:
            await wait_for(lambda: standin.app_connected(cfg.asterisk.app_name), 10, "ARI connected")
            yield Stack(service, standin)
        finally:
            service.request_stop()
            await asyncio.wait_for(task, bound(30))


@pytest.fixture
def menu_file(tmp_path: Path) -> Path:
    """A small menu with short timeouts so timeout paths run in about a second."""
    path = tmp_path / "menu.yaml"
    path.write_text(
        """
version: 1
entry: {day: main, night: main, holiday: main}
operator: {action: transfer, department: front desk}
defaults:
  timeout:
    seconds: 0.4
    attempts: 2
    prompt: {text: "Sorry, I did not hear a choice."}
    destination: {action: transfer, extension: "555"}
  invalid:
    attempts: 3
    prompt: {text: "Sorry, that is not a valid choice."}
    destination: {action: hangup}
  direct_dial:
    first_digits: "45678"
    min_digits: 3
    max_digits: 4
    interdigit_timeout_s: 1
    pattern: "[4-8][0-9]{2,3}"
menus:
  main:
    prompt: {text: "Welcome. For reservations press 1. For the front desk press 2."}
    options:
      - {digit: 1, action: menu, menu: reservations}
      - {digit: 2, action: transfer, department: front desk, synonyms: [front desk]}
  reservations:
    prompt: {text: "For a new booking press 1."}
    direct_dial: {enabled: false}
    options:
      - {digit: 1, action: transfer, department: reservations}
""",
        encoding="utf-8",
    )
    return path
