"""Who may use the voice API and dashboard, and what every answer carries (issue 13, issue 18 D8/L4/L2,
issue 17 D12)."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voicekit import context, raw_request, served

from ari_app.http import build_app, make_runner

TOKEN = "desk-t0ken"
ENDPOINTS = [
    ("GET", "/voice/sessions"), ("GET", "/voice/sessions/x"), ("POST", "/voice/sessions/x/end"),
    ("POST", "/voice/calls/outbound"), ("GET", "/voice/calls/outbound/x"), ("GET", "/voice/recordings/x"),
    ("GET", "/voice/analytics"), ("GET", "/voice/openapi.json"), ("GET", "/voice/do-not-call"),
    ("POST", "/voice/do-not-call"), ("DELETE", "/voice/do-not-call/+15550001111"), ("GET", "/api/calls"),
    ("GET", "/api/analytics"), ("GET", "/dashboard"), ("GET", "/dashboard/analytics"), ("GET", "/dashboard/events"),
    ("GET", "/dashboard/static/dashboard.js"),
]


def basic(password: str, user: str = "frontdesk") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_given_a_token_configured_when_an_endpoint_is_called_without_or_with_a_wrong_token_then_401(
    sqlite_sessions: async_sessionmaker[AsyncSession], method: str, path: str
) -> None:
    async with served(context(sqlite_sessions, tokens=[TOKEN])) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": basic("nope")}):
            resp = await client.request(method, path, headers={**headers, "Content-Type": "application/json"})
            assert resp.status == 401, (path, headers)
            if path.startswith(("/voice/", "/api/")):
                body = await resp.json()
                assert body["status"] == 401 and "token" in body["error"]


async def test_given_a_token_when_sent_as_bearer_in_any_case_or_as_basic_password_then_accepted(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions, tokens=[TOKEN])) as client:
        for auth in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", basic(TOKEN)):
            resp = await client.get("/voice/sessions", headers={"Authorization": auth})
            assert resp.status == 200, auth
            assert (await resp.json()) == {"sessions": []}


async def test_given_a_bare_token_without_scheme_then_refused_with_a_hint(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions, tokens=[TOKEN])) as client:
        resp = await client.get("/voice/sessions", headers={"Authorization": TOKEN})
        assert resp.status == 401
        assert "Bearer <token>" in (await resp.json())["error"]


async def test_given_non_ascii_authorization_when_sent_raw_then_401_never_500(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions, tokens=[TOKEN])) as client:
        port = client.server.port
        assert port is not None
        for auth in ("Bearer \u00e9t\u00e9".encode(), basic("p\u00e4ssw\u00f6rd").encode(),
                     b"Basic " + base64.b64encode("u:p\u00e4ss".encode("utf-8")), b"Bearer \xff\xfe"):
            for path in (b"/api/calls", b"/dashboard", b"/voice/analytics"):
                answer = await raw_request(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                           b"Authorization: " + auth + b"\r\n\r\n")
                assert answer.startswith(b"HTTP/1.1 401"), (path, auth, answer[:60])


async def test_given_a_browser_when_it_opens_the_analytics_api_then_a_basic_challenge_it_can_answer(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions, tokens=[TOKEN])) as client:
        page = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        for path in ("/api/analytics", "/voice/analytics", "/dashboard/analytics"):
            first = await client.get(path, headers=page)
            assert first.status == 401 and first.headers["WWW-Authenticate"].startswith("Basic"), path
        api = await client.get("/voice/analytics", headers={"Accept": "application/json"})
        assert api.headers["WWW-Authenticate"].startswith("Bearer")
        ok = await client.get("/api/analytics", headers={**page, "Authorization": basic(TOKEN)})
        assert ok.status == 200 and "calls" in await ok.json()
        analytics_page = await client.get("/dashboard/analytics", headers={**page, "Authorization": basic(TOKEN)})
        assert analytics_page.status == 200 and 'id="chart-volume"' in await analytics_page.text()


async def test_given_no_token_configured_when_called_from_loopback_then_served(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions)) as client:
        assert (await client.get("/voice/sessions")).status == 200
        assert (await client.get("/dashboard")).status == 200


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (to call the API as another host would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent by a UDP connect
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


async def test_given_no_token_configured_when_called_from_another_address_then_403(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    addr = _outside_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    async with served(context(sqlite_sessions), host=addr) as client:
        resp = await client.get("/voice/sessions")
        assert resp.status == 403 and "api_tokens" in (await resp.json())["error"]
        assert (await client.get("/health")).status == 200  # health stays open


async def test_given_any_answer_then_security_headers_keep_it_out_of_frames_and_caches(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with served(context(sqlite_sessions)) as client:
        for path in ("/dashboard", "/voice/sessions", "/voice/sessions/nope", "/api/calls", "/dashboard/analytics"):
            resp = await client.get(path)
            assert resp.headers["X-Frame-Options"] == "DENY", path
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Cache-Control"] == "no-store"
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


async def test_given_garbage_http_requests_then_no_error_tracebacks_and_one_rate_limited_warning(
    sqlite_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    runner = make_runner(build_app(context(sqlite_sessions)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.DEBUG):
            for n in range(12):
                answer = await raw_request(port, b"GET /x HTTP/1.1\r\nHost: x\r\nBad Header" + bytes([n]) + b"\r\n\r\n")
                assert answer.split(b" ")[1] == b"400"
            await asyncio.sleep(0)
    finally:
        await runner.cleanup()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed HTTP request" in r.getMessage()]
    assert errors == []
    assert len(warnings) == 1 and warnings[0].exc_info is None
