"""Wrong ARI credentials end `serve` with one clear line; an Asterisk that is merely down is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from e2e_support import wait_for

from ari_app.demo import demo_settings
from ari_app.service import StartupRefused, build_service
from ari_app.settings import load_settings
from ari_app.standin.server import AsteriskStandin


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOTEL_OPERATOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'refused.db'}",
        "HOTEL_OPERATOR_MEDIA__PORT_MIN": "43600",
        "HOTEL_OPERATOR_MEDIA__PORT_MAX": "43699",
    }


async def test_given_wrong_ari_password_when_service_runs_then_it_stops_with_one_line_naming_the_settings(
    tmp_path: Path,
) -> None:
    async with AsteriskStandin(user="hotel", password="right") as standin:
        cfg = demo_settings(load_settings(None, env=_env(tmp_path)), standin, "wrong")
        service = await build_service(cfg, load_speech=False)
        with pytest.raises(StartupRefused) as err:
            await asyncio.wait_for(service.run(), 30)
    message = str(err.value)
    assert "\n" not in message
    assert "401" in message and "ari_password" in message and "wrong" not in message


async def test_given_asterisk_down_when_service_runs_then_health_says_disconnected_and_it_keeps_trying(
    tmp_path: Path,
) -> None:
    async with AsteriskStandin(user="hotel", password="pw") as standin:
        cfg = demo_settings(load_settings(None, env=_env(tmp_path)), standin, "pw")
    # the stand-in is gone now: its port refuses connections, as an Asterisk being restarted would
    service = await build_service(cfg, load_speech=False)
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.http_port is not None, 10, "HTTP up")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{service.http_port}/health") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["ari"]["servers"]["pbx1"] == "disconnected"
        assert not task.done()  # still retrying, not dead
    finally:
        service.request_stop()
        await asyncio.wait_for(task, 30)
