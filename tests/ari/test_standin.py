"""The Asterisk stand-in itself: it refuses what Asterisk's API description forbids, and it answers
like the records (REST shapes, the externalMedia race and its 422, RTP, no-client hang-up)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import statistics
import struct
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from arikit import FIXTURES, SCENARIOS, eventually, rest_records

from ari_app.standin import ApiSpec, AsteriskStandin, default_api_docs_dir
from ari_app.standin.apispec import PROJECT_DESCRIPTION, SpecError

API_DOCS = default_api_docs_dir()
AUTH = {"Authorization": "Basic " + base64.b64encode(b"hotel:hotel-secret").decode()}


def require_api_docs() -> None:
    if not (API_DOCS.is_dir() and any(API_DOCS.glob("*.json"))):
        reason = f"Asterisk's ARI api-docs not found at {API_DOCS}"
        print(f"SKIP: {reason}")
        pytest.skip(reason)


async def call(st: AsteriskStandin, method: str, path: str, **params: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.request(method, st.base_url + path, params=params or None) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)


# ---------------------------------------------------------------------------------------------------
# validation against api-docs


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "message"),
    [
        (
            "POST",
            "/ari/channels/externalMedia",
            {"format": "ulaw", "external_host": "127.0.0.1:1"},
            400,
            "Missing required parameter 'app'",
        ),
        (
            "POST",
            "/ari/channels/externalMedia",
            {"app": "a", "format": "ulaw", "external_host": "h:1", "encapsulation": "rtp", "colour": "red"},
            400,
            "Unknown parameter 'colour'",
        ),
        (
            "POST",
            "/ari/channels/externalMedia",
            {"app": "a", "format": "ulaw", "external_host": "h:1", "transport": "sctp"},
            400,
            "Invalid value 'sctp' for parameter 'transport'",
        ),
        (
            "POST",
            "/ari/channels/externalMedia",
            {"app": "a", "format": "ulaw", "direction": "in"},
            400,
            "Invalid value 'in'",
        ),
        (
            "DELETE",
            "/ari/channels/1.1",
            {"reason": "tired"},
            400,
            "Invalid value 'tired' for parameter 'reason'",
        ),
        ("POST", "/ari/channels/1.1/play", {}, 400, "Missing required parameter 'media'"),
        ("POST", "/ari/channels/1.1/dtmf", {"between": "soon"}, 400, "must be an integer"),
        (
            "POST",
            "/ari/bridges/b/addChannel",
            {"channel": "x", "mute": "maybe"},
            400,
            "must be true or false",
        ),
        ("GET", "/ari/channels/externalMedia/x", {}, 404, "Resource not found"),
        ("PUT", "/ari/channels/1.1/answer", {}, 405, "Method PUT not allowed"),
        ("GET", "/ari/bridges/b/addChannel", {"channel": "x"}, 405, "Method GET not allowed"),
        ("GET", "/ari/events", {}, 400, "Missing required parameter 'app'"),
        ("GET", "/ari/asterisk/info", {"only": "build,weather"}, 400, "Invalid value 'weather'"),
    ],
)
async def test_given_api_docs_when_a_request_breaks_them_then_the_standin_refuses_it(
    standin: AsteriskStandin, method: str, path: str, params: dict[str, str], status: int, message: str
) -> None:
    require_api_docs()
    got_status, body = await call(standin, method, path, **params)
    assert got_status == status
    assert message in body["message"]
    assert standin.request_log[-1].status == status


async def test_given_no_credentials_then_401_with_asterisks_realm(standin: AsteriskStandin) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(standin.base_url + "/ari/asterisk/info") as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'


def test_given_no_api_docs_folder_then_it_says_so_and_validates_with_the_projects_description(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "ari_app.standin")
    spec = ApiSpec.load(tmp_path / "absent")
    assert "API description not found" in caplog.text and str(tmp_path / "absent") in caplog.text
    assert PROJECT_DESCRIPTION.name in spec.source
    op, pp = spec.match("POST", "/channels/externalMedia")
    assert op.key == "channels.externalMedia" and pp == {}
    with pytest.raises(SpecError, match="Missing required parameter 'app'"):
        spec.validate(op, [("format", "ulaw")])
    with pytest.raises(SpecError, match="Unknown parameter 'colour'"):
        spec.validate(op, [("app", "a"), ("format", "ulaw"), ("colour", "red")])
    with pytest.raises(SpecError) as info:
        spec.match("PUT", "/channels/1.1/answer")
    assert info.value.status == 405


def test_given_the_projects_own_description_then_it_agrees_with_asterisks_api_docs() -> None:
    require_api_docs()
    full = ApiSpec.from_api_docs(API_DOCS)
    ours = ApiSpec.from_project_description()
    for op in ours.operations:
        theirs = full.by_key[op.key]
        assert (theirs.method, theirs.path) == (op.method, op.path), op.key
        assert set(op.params) <= set(theirs.params), op.key
        for name, p in op.params.items():
            q = theirs.params[name]
            assert (p.required, p.allow_multiple, p.param_type, p.data_type, p.values) == (
                q.required,
                q.allow_multiple,
                q.param_type,
                q.data_type,
                q.values,
            ), f"{op.key} {name}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_given_every_recorded_request_then_the_api_description_allows_it(scenario: str) -> None:
    """Both descriptions accept every request the real Asterisk accepted in the records."""
    specs = [ApiSpec.from_project_description()]
    if API_DOCS.is_dir():
        specs.append(ApiSpec.from_api_docs(API_DOCS))
    for spec in specs:
        for r in rest_records(scenario):
            op, _ = spec.match(r["method"], r["path"].removeprefix("/ari"))
            spec.validate(op, list(r["query"].items()), r["request_body"])


# ---------------------------------------------------------------------------------------------------
# fidelity to the records


async def _connect(st: AsteriskStandin) -> aiohttp.ClientWebSocketResponse:
    http = aiohttp.ClientSession(headers=AUTH)
    ws = await http.ws_connect(
        st.base_url + "/ari/events", params={"app": "hotel-operator", "subscribeAll": "false"}
    )
    ws._standin_http = http  # type: ignore[attr-defined]
    return ws


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._standin_http.close()  # type: ignore[attr-defined]


async def _next_event(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    async with asyncio.timeout(2):
        while True:
            msg = await ws.receive()
            event: dict[str, Any] = json.loads(msg.data)
            if event["type"] == type_:
                return event


def _keys(obj: dict[str, Any]) -> set[str]:
    return set(obj)


async def test_given_externalmedia_then_the_post_returns_down_before_its_stasisstart_and_early_bridging_gets_422(
    standin: AsteriskStandin,
) -> None:
    ws = await _connect(standin)
    try:
        caller = standin.place_call(args=())
        start = await _next_event(ws, "StasisStart")
        recorded = rest_records("race422-dtmf")
        status, bridge = await call(standin, "POST", "/ari/bridges", type="mixing", name="probe")
        assert _keys(bridge) == _keys(recorded[3]["response_body"])
        status, em = await call(
            standin,
            "POST",
            "/ari/channels/externalMedia",
            app="hotel-operator",
            channelId="em-1",
            external_host="127.0.0.1:40000",
            format="ulaw",
            encapsulation="rtp",
            transport="udp",
            connection_type="client",
            direction="both",
        )
        assert status == 200
        rec_em = recorded[4]["response_body"]
        assert _keys(em) == _keys(rec_em)
        assert em["state"] == "Down" and em["dialplan"] == rec_em["dialplan"]
        assert set(em["channelvars"]) == {"UNICASTRTP_LOCAL_ADDRESS", "UNICASTRTP_LOCAL_PORT"}
        assert em["name"].startswith("UnicastRTP/127.0.0.1:40000-0x")
        # the race of the records: bridging now, before the channel's own StasisStart, fails
        status, body = await call(
            standin, "POST", f"/ari/bridges/{bridge['id']}/addChannel", channel=f"{caller},em-1"
        )
        assert (
            (status, body)
            == (422, recorded[5]["response_body"])
            == (422, {"message": "Channel not in Stasis application"})
        )
        # then Dial, ChannelStateChange, Dial(ANSWER), ChannelVarset STASISSTATUS, StasisStart, as recorded
        types: list[str] = []
        async with asyncio.timeout(2):
            while not types or types[-1] != "StasisStart":
                types.append(json.loads((await ws.receive()).data)["type"])
        assert types == ["Dial", "ChannelStateChange", "Dial", "ChannelVarset", "StasisStart"]
        status, _ = await call(
            standin, "POST", f"/ari/bridges/{bridge['id']}/addChannel", channel=f"{caller},em-1"
        )
        assert status == 204
        assert start["channel"]["state"] == "Up" and start["args"] == []
    finally:
        await _close(ws)


async def test_given_a_bridged_externalmedia_channel_then_rtp_is_sent_like_asterisk_and_replies_are_captured(
    standin: AsteriskStandin,
) -> None:
    """PT 0, 160-byte payloads, 20 ms apart, sequence +1, timestamp +160, one SSRC, marker never set;
    the payload is the caller audio file; what we send back to UNICASTRTP_LOCAL_* is captured."""
    loop = asyncio.get_running_loop()
    got: list[tuple[float, bytes, tuple[str, int]]] = []

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.append((loop.time(), data, addr))

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    ws = await _connect(standin)
    try:
        caller = standin.place_call(args=())
        _, bridge = await call(standin, "POST", "/ari/bridges", type="mixing")
        _, em = await call(
            standin,
            "POST",
            "/ari/channels/externalMedia",
            app="hotel-operator",
            channelId="em-2",
            external_host=f"127.0.0.1:{port}",
            format="ulaw",
        )
        await _next_event(ws, "StasisStart")  # the caller's
        await _next_event(ws, "StasisStart")  # the externalMedia channel's own
        await call(standin, "POST", f"/ari/bridges/{bridge['id']}/addChannel", channel=f"{caller},em-2")
        await eventually(lambda: len(got) >= 40, 3)
        asterisk = ("127.0.0.1", int(em["channelvars"]["UNICASTRTP_LOCAL_PORT"]))
        for i in range(5):
            header = struct.pack("!BBHII", 0x80, 0, i, 160 * i, 9)
            transport.sendto(header + b"\x55" * 160, asterisk)
        leg = standin.leg("em-2")
        assert leg is not None
        await eventually(lambda: len(leg.captured) == 5, 2)
    finally:
        await _close(ws)
        transport.close()
    packets = got[:40]
    assert {addr for _, _, addr in packets} == {asterisk}
    headers = [
        (d[0], d[1], int.from_bytes(d[2:4], "big"), int.from_bytes(d[4:8], "big"), d[8:12], len(d) - 12)
        for _, d, _ in packets
    ]
    assert {h[0] for h in headers} == {0x80}  # v2, no padding/extension/CSRC
    assert {h[1] for h in headers} == {0}  # PT 0 and marker never set
    assert {h[4] for h in headers} and len({h[4] for h in headers}) == 1  # one SSRC
    assert {h[5] for h in headers} == {160}
    assert all((b[2] - a[2]) % 65536 == 1 for a, b in zip(headers, headers[1:], strict=False))
    assert all((b[3] - a[3]) % 2**32 == 160 for a, b in zip(headers, headers[1:], strict=False))
    gaps = [b[0] - a[0] for a, b in zip(packets, packets[1:], strict=False)]
    assert 0.018 < statistics.mean(gaps) < 0.022
    source = (FIXTURES / "basic-rtp-in.ulaw").read_bytes()
    assert b"".join(d[12:] for _, d, _ in packets) == source[: 160 * 40]
    assert [p.sequence for p in leg.captured] == [0, 1, 2, 3, 4] and leg.received_audio() == b"\x55" * 800


async def test_given_no_ari_client_then_a_call_into_stasis_is_hung_up_at_once(
    standin: AsteriskStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "ari_app.standin")
    cid = standin.place_call()
    assert cid in standin.rejected_calls and not standin.live_channels()
    assert "no ARI client" in caplog.text and cid in caplog.text
    assert not any(e.delivered for e in standin.event_log)


async def test_given_asterisk_info_then_it_is_the_recorded_asterisk(standin: AsteriskStandin) -> None:
    recorded = json.loads((FIXTURES / "asterisk-info.json").read_text())
    status, info = await call(standin, "GET", "/ari/asterisk/info")
    assert status == 200
    assert info["system"] == recorded["system"] and info["build"] == recorded["build"]
    assert _keys(info) == _keys(recorded) and _keys(info["status"]) == _keys(recorded["status"])


async def test_given_a_failure_injected_then_only_the_next_request_of_that_kind_fails(
    standin: AsteriskStandin,
) -> None:
    standin.fail_next("asterisk.getInfo", 500)
    assert (await call(standin, "GET", "/ari/asterisk/info"))[0] == 500
    assert (await call(standin, "GET", "/ari/asterisk/info"))[0] == 200
    with pytest.raises(KeyError):
        standin.fail_next("channels.teleport")
