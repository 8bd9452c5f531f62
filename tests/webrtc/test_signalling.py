"""The signalling socket refuses what it must with a clear error and leaves nothing behind:
no call, no peer connection, no task, no slot, no half-written row."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from sqlalchemy import func, select
from wrtc_support import Browser, PcmTrack, Server, call, running_server, until, webrtc_tasks

from models.calls import VoiceCall


async def forever(session: Any) -> None:
    while True:
        await session.media.read_frame()


async def refusal(server: Server, http: aiohttp.ClientSession, query: str, first: str | None = None) -> tuple[dict[str, Any], int | None]:
    ws = await http.ws_connect(server.ws_url + query)
    if first is not None:
        await ws.send_str(first)
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    closing = await ws.receive(timeout=10)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    await ws.close()
    return json.loads(msg.data), ws.close_code


async def nothing_left(server: Server, rows: int = 0) -> None:
    await asyncio.sleep(0.2)  # let the server's handler finish its teardown
    gw = server.gateway
    assert gw.calls == {} and gw.open_peer_connections == 0 and gw.limiter.in_use == 0
    assert webrtc_tasks() == []
    async with server.sessions() as db:
        assert (await db.execute(select(func.count()).select_from(VoiceCall))).scalar_one() == rows


@pytest.fixture
async def server(tmp_path: Path) -> Any:
    async with running_server(tmp_path, forever) as s:
        yield s


async def test_given_no_token_when_the_socket_opens_then_token_missing_and_nothing_is_started(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        err, code = await refusal(server, http, "")
    assert err["type"] == "error" and err["code"] == "token_missing" and "press Call" in err["message"]
    assert code == 4401
    await nothing_left(server)


async def test_given_an_expired_token_when_the_socket_opens_then_token_expired(server: Server) -> None:
    stale = server.gateway.tokens.issue("127.0.0.1", time.time() - 2 * server.settings.webrtc.token_ttl_s)
    async with aiohttp.ClientSession() as http:
        err, code = await refusal(server, http, f"?token={stale}")
    assert (err["code"], code) == ("token_expired", 4401)
    await nothing_left(server)


async def test_given_a_token_for_another_address_or_altered_when_used_then_token_invalid(server: Server) -> None:
    theirs = server.gateway.tokens.issue("192.0.2.7", time.time())
    async with aiohttp.ClientSession() as http:
        err, _ = await refusal(server, http, f"?token={theirs}")
        assert err["code"] == "token_invalid"
        mine = await server.token(http)
        err, _ = await refusal(server, http, f"?token={mine[:-2]}xx")
        assert err["code"] == "token_invalid"
    await nothing_left(server)


async def test_given_garbage_instead_of_sdp_when_offered_then_bad_sdp_and_no_peer_connection(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        err, code = await refusal(server, http, f"?token={await server.token(http)}",
                                  json.dumps({"type": "offer", "sdp": "hello"}))
        assert (err["code"], code) == ("bad_sdp", 4400)
        # SDP-shaped but unusable (no ICE credentials, no DTLS fingerprint): the WebRTC stack refuses it
        broken = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\n"
        err, code = await refusal(server, http, f"?token={await server.token(http)}",
                                  json.dumps({"type": "offer", "sdp": broken}))
        assert (err["code"], code) == ("bad_sdp", 4400), err
        assert "could not be used" in err["message"]
        err, _ = await refusal(server, http, f"?token={await server.token(http)}", "not json")
        assert err["code"] == "bad_message"
    await nothing_left(server)


async def test_given_a_used_token_when_reused_then_token_used(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        token = await server.token(http)
        await refusal(server, http, f"?token={token}", json.dumps({"type": "offer", "sdp": "hello"}))
        err, _ = await refusal(server, http, f"?token={token}")
    assert err["code"] == "token_used"
    await nothing_left(server)


async def test_given_no_offer_in_time_when_waiting_then_timeout(tmp_path: Path) -> None:
    async with running_server(tmp_path, forever, env={"HOTEL_OPERATOR_WEBRTC__SIGNALLING_TIMEOUT_S": "0.3"}) as srv:
        async with aiohttp.ClientSession() as http:
            err, code = await refusal(srv, http, f"?token={await srv.token(http)}")
        assert (err["code"], code) == ("timeout", 4408)
        await nothing_left(srv)


async def _connected(srv: Server, http: aiohttp.ClientSession) -> Browser:
    browser = await call(srv, http, PcmTrack())
    assert (await browser.next("state"))["state"] == "connected"
    return browser


async def test_given_one_call_per_address_when_a_second_call_comes_then_too_many_calls_and_the_first_goes_on(
    tmp_path: Path,
) -> None:
    env = {"HOTEL_OPERATOR_WEBRTC__MAX_CALLS_PER_IP": "1", "HOTEL_OPERATOR_WEBRTC__MAX_CALLS": "4"}
    async with running_server(tmp_path, forever, env=env) as srv, aiohttp.ClientSession() as http:
        first = await _connected(srv, http)
        err, code = await refusal(srv, http, f"?token={await srv.token(http)}")
        assert (err["code"], code) == ("too_many_calls", 4429)
        assert len(srv.gateway.calls) == 1 and srv.gateway.open_peer_connections == 1
        await first.send({"type": "hangup"})
        await first.next("state")  # the first call is still served until its own hang-up
        await until(lambda: "ended" in first.states(), 10)
        await first.close()
        await nothing_left(srv, rows=1)


async def test_given_all_lines_busy_when_another_caller_asks_then_busy_for_the_token_and_the_socket(
    tmp_path: Path,
) -> None:
    env = {"HOTEL_OPERATOR_WEBRTC__MAX_CALLS": "1", "HOTEL_OPERATOR_WEBRTC__MAX_CALLS_PER_IP": "5"}
    async with running_server(tmp_path, forever, env=env) as srv, aiohttp.ClientSession() as http:
        spare = await srv.token(http)  # taken while a line was free
        first = await _connected(srv, http)
        async with http.post(srv.url + "/voice/call/token") as resp:
            assert resp.status == 429 and (await resp.json())["error"] == "busy"
        err, code = await refusal(srv, http, f"?token={spare}")
        assert (err["code"], code) == ("busy", 4429)
        await first.close()  # the browser just goes away: ICE/DTLS close ends the call
        await until(lambda: not srv.gateway.calls, 30)
        await nothing_left(srv, rows=1)


async def test_given_a_silent_caller_when_the_idle_limit_passes_then_the_call_ends_with_idle_timeout(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    env = {"HOTEL_OPERATOR_WEBRTC__IDLE_TIMEOUT_S": "30", "HOTEL_OPERATOR_WEBRTC__MAX_DURATION_S": "600"}
    async with running_server(tmp_path, forever, env=env, monotonic=lambda: now[0], watch_interval_s=0.02) as srv:
        async with aiohttp.ClientSession() as http:
            browser = await _connected(srv, http)
            await asyncio.sleep(0.2)
            assert list(srv.gateway.calls)  # the call lives on while the controlled clock stands still
            now[0] += 31.0
            await until(lambda: "ended" in browser.states(), 10)
            await browser.close()
        async with srv.sessions() as db:
            row = (await db.execute(select(VoiceCall))).scalar_one()
        assert row.end_reason == "idle_timeout" and row.channel == "webrtc"
        await nothing_left(srv, rows=1)


async def test_given_a_talking_caller_when_the_maximum_duration_passes_then_the_call_ends_with_max_duration(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    env = {"HOTEL_OPERATOR_WEBRTC__IDLE_TIMEOUT_S": "30", "HOTEL_OPERATOR_WEBRTC__MAX_DURATION_S": "60"}
    loud = (np.sin(np.arange(8000 * 30) / 8000 * 2 * np.pi * 300) * 8000).astype(np.int16)
    async with running_server(tmp_path, forever, env=env, monotonic=lambda: now[0], watch_interval_s=0.02) as srv:
        async with aiohttp.ClientSession() as http:
            browser = await call(srv, http, PcmTrack(loud))
            assert (await browser.next("state"))["state"] == "connected"
            for _ in range(3):  # 3 x 25 s of clock, the caller speaking all along
                await asyncio.sleep(0.3)
                now[0] += 25.0
            await until(lambda: "ended" in browser.states(), 10)
            await browser.close()
        async with srv.sessions() as db:
            row = (await db.execute(select(VoiceCall))).scalar_one()
        assert row.end_reason == "max_duration"
        await nothing_left(srv, rows=1)
