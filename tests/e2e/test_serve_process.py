"""`hotel-operator serve` as IT staff run it: a real process, signals, the HTTP API, a live call.

The Asterisk stand-in runs in the test; the service is a separate OS process that loads the bundled
speech models, so this is marked slow.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from e2e_support import wait_for, wait_until

from ari_app.standin.server import AsteriskStandin

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).with_name("hotel-operator")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_given_serve_running_when_calls_and_signals_arrive_then_it_serves_reloads_and_drains(
    tmp_path: Path, menu_file: Path
) -> None:
    http_port = _free_port()
    log_path = tmp_path / "serve.log"
    async with AsteriskStandin(user="hotel", password="proc-secret") as standin:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_OPERATOR_")}
        env.update(
            HOTEL_OPERATOR_ASTERISK__ARI_URL=standin.base_url,
            HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD="proc-secret",
            HOTEL_OPERATOR_ASTERISK__AMI_ENABLED="false",
            HOTEL_OPERATOR_ASTERISK__AGI_PORT=str(_free_port()),
            HOTEL_OPERATOR_HTTP__PORT=str(http_port),
            HOTEL_OPERATOR_MEDIA__PORT_MIN="43400",
            HOTEL_OPERATOR_MEDIA__PORT_MAX="43499",
            HOTEL_OPERATOR_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
            HOTEL_OPERATOR_SPEECH__PROMPT_CACHE_DIR=str(tmp_path / "prompts"),
            HOTEL_OPERATOR_IVR__MENU_FILE=str(menu_file),
            HOTEL_OPERATOR_IVR__START_IN_MENU="true",
        )
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                str(EXE), "--log-format", "json", "serve", cwd=tmp_path, env=env, stdout=log, stderr=log
            )
            try:
                base = f"http://127.0.0.1:{http_port}"

                async def healthy() -> bool:
                    try:
                        status, body = await _get(f"{base}/health")
                    except aiohttp.ClientError:
                        return False
                    return status == 200 and body.get("status") == "ok"

                async def up() -> bool:
                    assert proc.returncode is None, log_path.read_text()
                    return await healthy()

                await wait_until(up, 60, "serve healthy")

                ch = standin.place_call(caller_number="+15554440001", did="+15550100")
                await wait_for(lambda: any(ch in b.channels for b in standin.bridges.values()), 15, "bridged")
                standin.send_dtmf(ch, "2")
                await wait_for(lambda: standin.requests("channels.continueInDialplan"), 15, "transferred")

                async def listed() -> list[dict[str, object]]:
                    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/calls") as resp:
                        return list(await resp.json())

                async def transferred_listed() -> list[dict[str, object]] | None:
                    found = await listed()
                    return found if found and found[0]["status"] == "transferred" else None

                calls = await wait_until(transferred_listed, 5, "call listed as transferred")
                assert calls[0]["caller_id"] == "+15554440001" and calls[0]["status"] == "transferred"
                async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
                    scraped = await resp.text()
                assert 'hotel_calls_started_total{server="pbx1"} 1.0' in scraped
                assert 'hotel_ari_connected{server="pbx1"} 1.0' in scraped

                # a broken menu file on SIGHUP: refused, old menus kept
                good = menu_file.read_text()
                menu_file.write_text(good.replace("menu: reservations", "menu: nowhere"))
                proc.send_signal(signal.SIGHUP)
                await wait_for(lambda: "old menus kept" in log_path.read_text(), 15, "reload refused")
                assert "nowhere" in log_path.read_text()
                menu_file.write_text(good)
                proc.send_signal(signal.SIGHUP)
                await wait_for(lambda: "IVR menus reloaded" in log_path.read_text(), 15, "reloaded")

                proc.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(proc.wait(), 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    assert code == 0, log_path.read_text()
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    assert any(x["msg"] == "stopped" for x in lines)
    # every line about the call carries its correlation id
    session_id = str(calls[0]["session_id"])
    assert any(x.get("call_id") == session_id for x in lines)
