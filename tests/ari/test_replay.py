"""Replay of the recorded scenarios: driven by the stand-in with the caller's actions from the
records (digits, hang-up, timings ×0.05), our app makes the REST calls a correct app makes — the
recorded sequence, ids aside — and never the failing addChannel-before-StasisStart of race422.

What the recording probe did and a correct app need not (each shown once in the records, filtered
out of the expected sequence, with the reason):

* ``GET /bridges/{bridge}``, ``GET /channels/{caller}``, ``GET /channels/{caller}/rtp_statistics``:
  the probe's own diagnostics, one second after bridging;
* ``GET /channels/{em}/variable?variable=UNICASTRTP_LOCAL_ADDRESS|PORT``: the same values come back
  in the ``externalMedia`` response's ``channelvars``, which is what the app reads.

The race422 record also lacks the addChannel that succeeds (that was the bug); the expected
sequence has it where a correct app makes it: after the externalMedia channel's StasisStart.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arikit import SCENARIOS, event_records, eventually, rest_records, running_manager

from ari_app.calls.call import Conversation
from ari_app.session import CallSession
from ari_app.settings import Settings
from ari_app.standin import AsteriskStandin, RequestRecord
from models.calls import CallStatus, VoiceCall
from models.store import CallStore

SCALE = 0.05  # the records' timings, compressed
DIAGNOSTIC_SUFFIXES = ("/rtp_statistics", "/variable")


def is_diagnostic(method: str, path: str, ids: dict[str, str]) -> bool:
    if method != "GET":
        return False
    if path.endswith(DIAGNOSTIC_SUFFIXES):
        return True
    return path in (f"/ari/bridges/{ids.get('bridge')}", f"/ari/channels/{ids.get('caller')}")


def normalise(method: str, path: str, query: dict[str, str], ids: dict[str, str]) -> tuple[Any, ...]:
    """(method, path, query) with our ids and the recorder's ids replaced by their role."""
    repl = sorted(((v, "{" + k + "}") for k, v in ids.items() if v), key=lambda kv: -len(kv[0]))

    def sub(text: str) -> str:
        for value, name in repl:
            text = text.replace(value, name)
        return text

    q: dict[str, str] = {}
    for key, value in query.items():
        if key == "external_host":
            value = "{host}:{port}"
        elif key == "name":
            value = "{name}"
        q[key] = sub(value)
    return method, sub(path), tuple(sorted(q.items()))


def recorded_ids(scenario: str) -> dict[str, str]:
    rest = rest_records(scenario)
    ids: dict[str, str] = {}
    for r in rest:
        if r["path"].endswith("/answer"):
            ids["caller"] = r["path"].split("/")[3]
        if r["path"] == "/ari/bridges" and r["method"] == "POST":
            ids["bridge"] = r["response_body"]["id"]
        if r["path"] == "/ari/channels/externalMedia":
            ids["em"] = r["query"]["channelId"]
        if r["path"].endswith("/play"):
            ids["playback"] = r["query"]["playbackId"]
    return ids


def expected_sequence(scenario: str) -> list[tuple[Any, ...]]:
    ids = recorded_ids(scenario)
    out = []
    for r in rest_records(scenario):
        if is_diagnostic(r["method"], r["path"], ids):
            continue
        if r["status"] == 422:
            continue  # race422: the addChannel made before the externalMedia channel's StasisStart
        out.append(normalise(r["method"], r["path"], r["query"], ids) + (r["status"],))
        if r["path"] == "/ari/channels/externalMedia" and scenario == "race422-dtmf":
            out.append(
                normalise(
                    "POST",
                    f"/ari/bridges/{ids['bridge']}/addChannel",
                    {"channel": f"{ids['caller']},{ids['em']}"},
                    ids,
                )
                + (204,)
            )
    return out


def actual_sequence(log: list[RequestRecord], caller: str) -> list[tuple[Any, ...]]:
    ids = {"caller": caller}
    for r in log:
        if r.op == "bridges.create":
            ids["bridge"] = r.response["id"]
        if r.op == "channels.externalMedia":
            ids["em"] = r.query["channelId"]
        if r.op == "channels.play":
            ids["playback"] = r.query["playbackId"]
    return [
        normalise(r.method, r.path, r.query, ids) + (r.status,)
        for r in log
        if r.op != "events.eventWebsocket"
    ]


def caller_script(scenario: str) -> tuple[list[tuple[float, str]], float | None]:
    """(digits with times, caller hang-up time), relative to the caller's StasisStart, from the events."""
    events = event_records(scenario)
    start = next(e for e in events if e["type"] == "StasisStart")
    caller = start["channel"]["id"]
    t0 = _t(start)
    digits = [(_t(e) - t0, e["digit"]) for e in events if e["type"] == "ChannelDtmfReceived"]
    hangups = [
        e
        for e in events
        if e["type"] == "ChannelHangupRequest" and e["channel"]["id"] == caller and "cause" not in e
    ]
    return digits, (_t(hangups[0]) - t0 if hangups else None)


def app_script(scenario: str) -> list[tuple[float, str, dict[str, str]]]:
    """What the app did on its own (play, hang up) and when, relative to bridging, from the REST record."""
    rest = rest_records(scenario)
    bridged = next(r["ts"] for r in rest if r["path"].endswith("/addChannel"))
    caller = recorded_ids(scenario)["caller"]
    out = []
    for r in rest:
        if r["path"].endswith("/play"):
            out.append((r["ts"] - bridged, "play", {"media": r["query"]["media"]}))
        if r["method"] == "DELETE" and r["path"] == f"/ari/channels/{caller}":
            out.append((r["ts"] - bridged, "hangup", dict(r["query"])))
    return out


_T0: dict[int, float] = {}


def _t(event: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def scripted(actions: list[tuple[float, str, dict[str, str]]]) -> Conversation:
    async def talk(session: CallSession) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for at, kind, arg in actions:
            await asyncio.sleep(max(0.0, t0 + at * SCALE - loop.time()))
            if kind == "play":
                await session.control.play_sound(arg["media"])
            elif kind == "hangup":
                await session.control.hangup(arg.get("reason", "normal"))
        await asyncio.Event().wait()

    return talk


async def replay(
    scenario: str, standin: AsteriskStandin, settings: Settings, store: CallStore
) -> tuple[str, Any]:
    digits, hangup_at = caller_script(scenario)
    standin.set_sound_duration("sound:tt-monkeys", 30.0)
    # the recorded app kept no dead-man TIMEOUT(absolute) on its channels (tested in test_call_fixes)
    settings.calls.fallback_timeout_s = 0
    async with running_manager(settings, store, scripted(app_script(scenario))) as manager:
        caller = standin.place_call(args=())  # the records' dialplan: Stasis(hotel-operator), no args
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await eventually(lambda: caller in manager.calls)
        call = manager.calls[caller]
        for at, digit in digits:
            await asyncio.sleep(max(0.0, t0 + at * SCALE - loop.time()))
            standin.send_dtmf(caller, digit)
        if hangup_at is not None:
            await asyncio.sleep(max(0.0, t0 + hangup_at * SCALE - loop.time()))
            standin.hangup_caller(caller)
        await asyncio.wait_for(call.finished.wait(), 5)
    return caller, call


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_given_a_recorded_scenario_when_replayed_then_the_app_makes_the_recorded_rest_calls(
    scenario: str, standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    caller, call = await replay(scenario, standin, settings, store)

    log = standin.request_log
    actual = actual_sequence(log, caller)
    assert actual == expected_sequence(scenario)
    # the events WebSocket was opened as the api-docs name it
    ws = [r for r in log if r.op == "events.eventWebsocket"]
    assert [(r.query, r.status) for r in ws] == [({"app": "hotel-operator", "subscribeAll": "false"}, 101)]
    # never the failing addChannel of race422, and nothing else refused
    assert all(r.status < 400 for r in log), [(r.path, r.status, r.response) for r in log if r.status >= 400]
    # bridging happened only after the externalMedia channel's own StasisStart
    em_start = next(
        e.at
        for e in standin.event_log
        if e.event["type"] == "StasisStart" and e.event["channel"]["id"] == call.em_id
    )
    add = next(r.at for r in log if r.op == "bridges.addChannel")
    em_post = next(r.at for r in log if r.op == "channels.externalMedia")
    assert em_post < em_start <= add

    digits, _ = caller_script(scenario)
    got = []
    while not call.dtmf.empty():
        got.append(call.dtmf.get_nowait())
    assert got == [d for _, d in digits]

    row = await store.get_call(call.row_id)
    assert isinstance(row, VoiceCall)
    assert row.status == CallStatus.COMPLETED
    assert row.end_reason == ("agent_hangup" if scenario == "ari-hangup" else "caller_hangup")
    assert row.duration_s is not None and row.duration_s > 0
    assert row.answered_at is not None
    assert not standin.live_channels() and not standin.bridges


def event_signature(event: dict[str, Any], roles: dict[str, str]) -> tuple[Any, ...]:
    kind = event["type"]
    if "playback" in event:
        return ("playback", kind, event["playback"]["state"])
    if kind == "BridgeDestroyed":
        return ("bridge", kind)
    subject = event.get("channel") or event.get("peer") or {}
    role = roles.get(subject.get("id", ""), "?")
    detail: tuple[Any, ...] = ()
    if kind == "ChannelVarset":
        detail = (event["variable"], event["value"] == "")
    elif kind == "ChannelHangupRequest":
        detail = (event.get("cause"), event.get("soft"))
    elif kind == "ChannelDestroyed":
        detail = (event["cause"], event["cause_txt"])
    elif kind == "Dial":
        detail = (event["dialstatus"],)
    elif kind == "ChannelDtmfReceived":
        detail = (event["digit"], event["duration_ms"])
    elif kind == "StasisStart":
        detail = (tuple(event["args"]),)
    return (role, kind, *detail)


def per_role(events: list[dict[str, Any]], roles: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for e in events:
        sig = event_signature(e, roles)
        out.setdefault(sig[0], []).append(sig)
    return out


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "race422-dtmf"])
async def test_given_a_replayed_scenario_then_the_standin_sends_the_recorded_events_per_channel(
    scenario: str, standin: AsteriskStandin, settings: Settings, store: CallStore
) -> None:
    """Fidelity of the stand-in: per channel (caller, externalMedia, bridge, playback) the same
    events in the same order as Asterisk 22 sent, with the same causes, variables and states.
    (race422 is left out: its record has the bridge that failed, a correct app's call is bridged.)"""
    caller, call = await replay(scenario, standin, settings, store)
    recorded = event_records(scenario)
    rec_ids = recorded_ids(scenario)
    rec_roles = {rec_ids["caller"]: "caller", rec_ids["em"]: "em"}
    ours = [e.event for e in standin.event_log]
    our_roles = {caller: "caller", call.em_id or "": "em"}
    assert per_role(ours, our_roles) == per_role(recorded, rec_roles)
    # and the same JSON shape (keys) for every event type
    shapes_rec = {(e["type"], tuple(sorted(e))) for e in recorded}
    shapes_ours = {(e["type"], tuple(sorted(e))) for e in ours}
    assert shapes_ours == shapes_rec
    chan_keys = {tuple(sorted(e["channel"])) for e in recorded if "channel" in e}
    assert {tuple(sorted(e["channel"])) for e in ours if "channel" in e} == chan_keys
