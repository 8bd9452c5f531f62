"""The voice API on a real SQLite file and the real PostgreSQL: sessions, outbound, do-not-call,
analytics, validation errors as JSON, and the OpenAPI document (issue 13)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import add_call, context, served

from ari_app.http import DialResult, LiveCall
from models import CallEvent, OutboundCall, Reservation, Room, RoomType, VoiceCall

NOW = datetime.now(UTC).replace(microsecond=0)


async def _booking(sessions: async_sessionmaker[AsyncSession], sid: str, code: str, total: str,
                   status: str = "confirmed", guest: str = "Maria Lopez") -> None:
    async with sessions.begin() as db:
        rt = await db.scalar(select(RoomType).limit(1))
        if rt is None:
            rt = RoomType(code="DQ", name="Double Queen", capacity=4, base_rate=Decimal("150.00"))
            db.add(rt)
            await db.flush()
            db.add(Room(number="101", room_type_id=rt.id))
            await db.flush()
        room = await db.scalar(select(Room).limit(1))
        assert room is not None
        db.add(Reservation(confirmation_code=code, guest_name=guest, check_in=date(2026, 12, 20),
                           check_out=date(2026, 12, 23), room_type_id=rt.id, room_id=room.id, status=status,
                           total=Decimal(total), currency="USD", call_session_id=sid))


async def test_given_live_and_finished_calls_when_sessions_listed_then_live_ones_with_state_and_detail_complete(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "done1", started=NOW - timedelta(minutes=30), status="completed",
                   turns=[("caller", "<b>hi</b>", None, {}), ("agent", "Hello!", 640, {"stt_ms": 210.0})],
                   tools=[("check_availability", True, 12.5)], sentiment=0.4, sentiment_label="positive",
                   recording_path="/nonexistent/done1.wav.enc", end_reason="caller_hangup")
    await add_call(db_sessions, "live1", started=NOW - timedelta(minutes=1), status="active", caller="+15550002222")
    live = [LiveCall("live1", "pbx1", "ch-live1", "+15550002222", "", "100", "inbound", "on_hold")]
    async with db_sessions.begin() as db:
        db.add(CallEvent(session_id="done1", kind="answered", detail={}))
    ctx = context(db_sessions, live_calls=lambda: live)
    async with served(ctx) as client:
        listed = await (await client.get("/voice/sessions")).json()
        assert [(s["session_id"], s["state"]) for s in listed["sessions"]] == [("live1", "on_hold")]
        every = await (await client.get("/voice/sessions?live=false")).json()
        assert [s["session_id"] for s in every["sessions"]] == ["live1", "done1"]
        detail = await (await client.get("/voice/sessions/done1")).json()
        assert [t["content"] for t in detail["turns"]] == ["<b>hi</b>", "Hello!"]
        assert detail["turns"][1]["latency_ms"] == 640 and detail["turns"][1]["timings"] == {"stt_ms": 210.0}
        assert detail["tool_runs"][0]["tool"] == "check_availability" and detail["sentiment"] == 0.4
        assert detail["recording_url"] == "/voice/recordings/done1" and detail["events"][0]["kind"] == "answered"
        # the first API answers through the same code
        legacy = await (await client.get("/api/calls")).json()
        assert [c["session_id"] for c in legacy] == ["live1", "done1"]
        assert (await (await client.get("/api/calls/done1")).json())["turns"] == detail["turns"]
        missing = await client.get("/voice/sessions/nope")
        assert missing.status == 404 and (await missing.json())["error"] == "no session nope"


async def test_given_search_terms_when_sessions_searched_then_number_name_and_confirmation_code_find_the_call(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "a", started=NOW, caller="+1 (555) 010-7788", name="Ana Silva")
    await add_call(db_sessions, "b", started=NOW, caller="+15550009999")
    await _booking(db_sessions, "b", "9E397J", "477.00", guest="John Smith")
    async with served(context(db_sessions)) as client:
        async def find(q: str) -> list[str]:
            body = await (await client.get("/voice/sessions", params={"live": "false", "q": q})).json()
            return [s["session_id"] for s in body["sessions"]]

        assert await find("0107788") == ["a"]
        assert await find("ana") == ["a"]
        assert await find("9e397j") == ["b"]
        assert await find("john smith") == ["b"]
        assert await find("nobody") == []


async def test_given_bad_input_then_json_errors_name_the_field(db_sessions: async_sessionmaker[AsyncSession]) -> None:
    async with served(context(db_sessions, place_call=None)) as client:
        resp = await client.get("/voice/sessions?limit=0")
        body = await resp.json()
        assert resp.status == 422 and body["error"].startswith("query limit:") and body["details"][0]["field"] == "limit"
        resp = await client.get("/voice/analytics?from=yesterday")
        assert resp.status == 422 and "from" in (await resp.json())["error"]
        resp = await client.get("/voice/analytics?from=2026-12-02&to=2026-12-01")
        assert resp.status == 422 and (await resp.json())["error"] == "'to' must be after 'from'"
        resp = await client.post("/voice/calls/outbound", data="{nope", headers={"Content-Type": "application/json"})
        assert resp.status == 400 and (await resp.json())["error"] == "the request body must be JSON"
        deep = "[" * 30_000 + "]" * 30_000  # a recursive decoder's RecursionError must not become a 500
        resp = await client.post("/voice/calls/outbound", data=deep, headers={"Content-Type": "application/json"})
        assert resp.status == 400 and (await resp.json())["error"] == "the request body must be JSON"
        resp = await client.post("/voice/calls/outbound", data="number=1", headers={"Content-Type": "text/plain"})
        assert resp.status == 415
        resp = await client.post("/voice/calls/outbound", json={"number": "5551234", "purpose": "reminder"})
        assert resp.status == 422 and (await resp.json())["details"][0]["field"] == "number"
        resp = await client.post("/voice/calls/outbound", json={"number": "+15551234567", "purpose": "custom"})
        assert resp.status == 422 and "custom needs a message" in (await resp.json())["error"]
        resp = await client.post("/voice/calls/outbound", json={"number": "+15551234567", "purpose": "party"})
        assert resp.status == 422 and (await resp.json())["details"][0]["field"] == "purpose"


async def test_given_a_live_call_when_ended_over_the_api_then_the_manager_ends_it_with_the_reason(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "live", started=NOW, status="active")
    await add_call(db_sessions, "old", started=NOW - timedelta(hours=1))
    ended: list[tuple[str, str]] = []

    async def end(sid: str, reason: str) -> bool:
        ended.append((sid, reason))
        return sid == "live"

    async with served(context(db_sessions, end_call=end)) as client:
        resp = await client.post("/voice/sessions/live/end", json={"reason": "guest asked"})
        assert resp.status == 202 and (await resp.json())["reason"] == "ended_by_staff: guest asked"
        assert ended == [("live", "ended_by_staff: guest asked")]
        assert (await client.post("/voice/sessions/old/end", json={})).status == 409
        assert (await client.post("/voice/sessions/nope/end", json={})).status == 404
        assert (await client.post("/voice/sessions/live/end", json={"reason": "<script>"})).status == 422
        events = (await (await client.get("/voice/sessions/live")).json())["events"]
        assert [e["kind"] for e in events] == ["end_requested"] and events[0]["detail"]["by"] == "loopback"


async def test_given_outbound_requests_then_dnc_rate_limit_and_each_state_change_stored_on_the_session(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "out-call", started=NOW, status="active", direction="outbound")
    dialled: list[tuple[str, dict[str, str]]] = []
    gate = asyncio.Event()

    async def place(number: str, variables: dict[str, str]) -> DialResult:
        dialled.append((number, variables))
        await gate.wait()
        purpose = variables["HOTEL_OUTBOUND_PURPOSE"]
        if purpose == "callback":
            return DialResult(answered=True, session_id="out-call")
        if purpose == "custom":
            raise RuntimeError("ARI 500")
        return DialResult(answered=False, cause=17)

    ctx = context(db_sessions, place_call=place, outbound_per_number_per_hour=2)
    async with served(ctx) as client:
        add = await client.post("/voice/do-not-call", json={"number": "+15557770000", "note": "asked"})
        assert add.status == 201
        assert (await client.post("/voice/do-not-call", json={"number": "+15557770000"})).status == 409
        refused = await client.post("/voice/calls/outbound", json={"number": "+15557770000", "purpose": "reminder"})
        assert refused.status == 403 and "do-not-call" in (await refused.json())["error"]
        first = await client.post("/voice/calls/outbound", json={"number": "+15551230000", "purpose": "callback",
                                                                  "language": "es"})
        assert first.status == 202
        rid = (await first.json())["id"]
        assert first.headers["Location"] == f"/voice/calls/outbound/{rid}"
        second = await client.post("/voice/calls/outbound", json={"number": "+15551230001", "purpose": "reminder"})
        rid2 = (await second.json())["id"]
        third = await client.post("/voice/calls/outbound", json={"number": "+15551230000", "purpose": "custom",
                                                                  "message": "Your room is ready"})
        rid3 = (await third.json())["id"]
        limited = await client.post("/voice/calls/outbound", json={"number": "+15551230000", "purpose": "reminder"})
        assert limited.status == 429 and limited.headers["Retry-After"] == "3600"
        gate.set()
        for _ in range(200):
            states = [(await (await client.get(f"/voice/calls/outbound/{r}")).json())["status"] for r in (rid, rid2, rid3)]
            if "dialing" not in states and "queued" not in states:
                break
            await asyncio.sleep(0.02)
        one = await (await client.get(f"/voice/calls/outbound/{rid}")).json()
        assert one["status"] == "answered" and one["session_id"] == "out-call"
        assert [e["kind"] for e in one["events"]] == ["queued", "dialing", "answered"]
        two = await (await client.get(f"/voice/calls/outbound/{rid2}")).json()
        assert two["status"] == "no_answer" and two["events"][-1]["detail"]["cause"] == 17
        three = await (await client.get(f"/voice/calls/outbound/{rid3}")).json()
        assert three["status"] == "failed" and three["error"] == "RuntimeError: ARI 500"
        session = await (await client.get("/voice/sessions/out-call")).json()
        assert [e["kind"] for e in session["events"]] == ["queued", "dialing", "answered"]
        assert dialled[0] == ("+15551230000", {"HOTEL_OUTBOUND_ID": rid, "HOTEL_OUTBOUND_PURPOSE": "callback",
                                               "HOTEL_OUTBOUND_LANGUAGE": "es"})
        assert (await client.delete("/voice/do-not-call/+15557770000")).status == 204
        assert (await (await client.get("/voice/do-not-call")).json()) == {"numbers": []}
    async with db_sessions() as db:
        assert len((await db.execute(select(OutboundCall))).scalars().all()) == 3


async def test_given_no_asterisk_when_outbound_requested_then_503_and_nothing_stored(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(db_sessions)) as client:
        resp = await client.post("/voice/calls/outbound", json={"number": "+15551230000", "purpose": "reminder"})
        assert resp.status == 503
    async with db_sessions() as db:
        assert (await db.execute(select(OutboundCall))).first() is None


async def test_given_a_day_of_calls_when_analytics_asked_then_sql_figures_match_the_seed(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    day = datetime(2026, 11, 3, tzinfo=UTC)
    t = day + timedelta(hours=9, minutes=5)
    await add_call(db_sessions, "c1", started=t, status="completed", duration_s=120,
                   turns=[("caller", "hi", None, {}), ("agent", "a", 400, {"stt_ms": 100.0, "brain_ms": 50.0}),
                          ("agent", "b", 600, {"stt_ms": 300.0, "brain_ms": 70.0})],
                   tools=[("check_availability", True, 10.0), ("create_reservation", True, 30.0)],
                   sentiment=0.5, sentiment_label="positive")
    await add_call(db_sessions, "c2", started=t + timedelta(minutes=10), status="transferred", duration_s=60,
                   turns=[("agent", "c", 800, {"stt_ms": 200.0})], tools=[("transfer_call", True, 5.0)],
                   sentiment=-0.5, sentiment_label="negative")
    await add_call(db_sessions, "c3", started=t + timedelta(hours=2), status="failed", duration_s=30,
                   turns=[("agent", "d", 1000, {})])
    await add_call(db_sessions, "c4", started=t + timedelta(hours=3), status="abandoned", duration_s=10)
    await add_call(db_sessions, "other-day", started=t - timedelta(days=1), status="completed")
    await _booking(db_sessions, "c1", "AAA111", "477.00")
    await _booking(db_sessions, "c2", "BBB222", "100.00", status="cancelled")
    async with served(context(db_sessions)) as client:
        a = await (await client.get("/voice/analytics?from=2026-11-03&to=2026-11-04")).json()
    assert a["calls"] == 4
    assert a["volume_per_hour"] == [{"hour": "2026-11-03T09:00:00+00:00", "calls": 2},
                                    {"hour": "2026-11-03T11:00:00+00:00", "calls": 1},
                                    {"hour": "2026-11-03T12:00:00+00:00", "calls": 1}]
    assert {k: v["share"] for k, v in a["outcomes"].items()} == {
        "completed": 0.25, "transferred": 0.25, "abandoned": 0.25, "failed": 0.25}
    assert a["bookings"] == {"count": 1, "value": {"USD": 477.0}, "by_status": {"confirmed": 1, "cancelled": 1}}
    assert a["duration_by_intent"] == {"check_availability": 120.0, "transfer_call": 60.0, "none": 20.0}
    # agent turn latencies 400, 600, 800, 1000: nearest rank p50 = 600, p95 = 1000
    assert a["latency_ms"]["total"] == {"p50": 600.0, "p95": 1000.0, "mean": 700.0, "count": 4.0}
    assert a["latency_ms"]["stt_ms"] == {"p50": 200.0, "p95": 300.0, "mean": 200.0, "count": 3.0}
    assert a["latency_ms"]["brain_ms"]["p50"] == 50.0 and a["latency_ms"]["endpoint_ms"]["count"] == 0.0
    assert a["tools"]["create_reservation"] == {"runs": 1.0, "ok": 1.0, "mean_latency_ms": 30.0}
    assert a["sentiment"] == {"mean": 0.0, "labels": {"positive": 1, "negative": 1}}
    assert a["transfer_rate"] == 0.25


async def test_given_a_hotel_timezone_when_analytics_has_no_window_then_today_is_the_hotel_day(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "now", started=NOW)
    async with served(context(db_sessions, timezone="Asia/Tokyo")) as client:
        a = await (await client.get("/voice/analytics")).json()
    assert a["calls"] == 1 and a["window"]["timezone"] == "Asia/Tokyo"
    start = datetime.fromisoformat(a["window"]["from"])
    assert start.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).hour == 0
    assert a["volume_per_hour"][0]["hour"].endswith("+09:00")


async def test_given_the_app_when_openapi_asked_then_a_valid_3_1_document_lists_every_voice_route(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    from openapi_spec_validator import validate

    async with served(context(db_sessions)) as client:
        doc = await (await client.get("/voice/openapi.json")).json()
        app = client.app
        assert app is not None
        routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/voice/")
                  and r.resource.canonical != "/voice/openapi.json" and r.method != "HEAD"}
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routes <= documented, routes - documented
    outbound = doc["paths"]["/voice/calls/outbound"]["post"]
    schema = doc["components"]["schemas"]["OutboundBody"]
    assert outbound["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/OutboundBody")
    assert schema["properties"]["number"]["pattern"] == r"^\+[1-9][0-9]{6,14}$"
    assert {p["name"] for p in doc["paths"]["/voice/analytics"]["get"]["parameters"]} == {"from", "to"}
    assert "429" in outbound["responses"] and "422" in outbound["responses"]


async def test_given_a_call_row_then_the_session_shows_the_status_the_store_wrote(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_call(db_sessions, "x", started=NOW, status="transferred", end_reason="transferred: 100")
    async with served(context(db_sessions)) as client:
        body = await (await client.get("/voice/sessions/x")).json()
    async with db_sessions() as db:
        row = await db.scalar(select(VoiceCall).where(VoiceCall.session_id == "x"))
    assert row is not None and body["status"] == row.status == "transferred" and body["state"] is None


async def test_given_simultaneous_requests_for_one_number_then_the_hourly_limit_still_holds(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def place(number: str, variables: dict[str, str]) -> DialResult:
        return DialResult(answered=False, cause=19)

    async with served(context(db_sessions, place_call=place, outbound_per_number_per_hour=2)) as client:
        answers = await asyncio.gather(*(
            client.post("/voice/calls/outbound", json={"number": "+15551230077", "purpose": "reminder"})
            for _ in range(6)
        ))
        assert sorted(a.status for a in answers) == [202, 202, 429, 429, 429, 429]
