"""TwilioProvider against a local HTTP server that answers like Twilio's Messages API: 201 with
a message resource, 400 with an error code for a bad number, 503 for an outage (then a retry)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.settings import SmsSettings, WorkerSettings
from ari_app.workers import OutboxWorker, ProviderError, TwilioProvider
from models.hotel import JobStatus, Message

SID = "AC" + "0" * 31 + "1"
TOKEN = "test-auth-token-123"
INVALID = "+15005550001"  # Twilio's magic "invalid number" test value


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.outages = 0

    async def messages(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.match_info["sid"] != SID or request.headers.get("Authorization") != expected:
            return web.json_response(
                {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
                status=401,
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        if self.outages:
            self.outages -= 1
            return web.json_response(
                {"code": 20500, "message": "Internal Server Error", "status": 503}, status=503
            )
        if form.get("To") == INVALID:
            return web.json_response(
                {
                    "code": 21211,
                    "message": f"The 'To' number {INVALID} is not a valid phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400,
                },
                status=400,
            )
        n = len(self.requests)
        return web.json_response(
            {
                "sid": f"SM{n:032x}",
                "account_sid": SID,
                "to": form["To"],
                "from": form.get("From"),
                "body": form["Body"],
                "status": "queued",
                "error_code": None,
                "error_message": None,
            },
            status=201,
        )


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", fake.messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _provider(base: str, token: str = TOKEN) -> TwilioProvider:
    return TwilioProvider(account_sid=SID, auth_token=token, from_number="+15550009999", base_url=base)


async def test_given_valid_number_when_sent_then_form_is_posted_with_basic_auth_and_sid_returned(
    twilio: tuple[FakeTwilio, str],
) -> None:
    fake, base = twilio
    provider = _provider(base)
    try:
        sid = await provider.send(Message(id=1, channel="sms", to="+15551230000", body="Room 12 is booked"))
    finally:
        await provider.close()

    assert sid == f"SM{1:032x}"
    assert fake.requests == [{"To": "+15551230000", "Body": "Room 12 is booked", "From": "+15550009999"}]


@pytest.mark.parametrize(
    ("to", "token", "outages", "retryable", "code"),
    [
        (INVALID, TOKEN, 0, False, 21211),
        ("+15551230000", "wrong-token", 0, False, 20003),
        ("+15551230000", TOKEN, 1, True, 20500),
    ],
)
async def test_given_twilio_error_when_sent_then_provider_error_says_whether_retry_helps(
    twilio: tuple[FakeTwilio, str], to: str, token: str, outages: int, retryable: bool, code: int
) -> None:
    fake, base = twilio
    fake.outages = outages
    provider = _provider(base, token)
    try:
        with pytest.raises(ProviderError) as err:
            await provider.send(Message(id=2, channel="sms", to=to, body="hi"))
    finally:
        await provider.close()

    assert (err.value.retryable, err.value.code) == (retryable, code)
    assert TOKEN not in str(err.value)


async def test_given_unreachable_twilio_when_sent_then_error_is_retryable() -> None:
    provider = _provider("http://127.0.0.1:9")
    try:
        with pytest.raises(ProviderError) as err:
            await provider.send(Message(id=3, channel="sms", to="+15551230000", body="hi"))
    finally:
        await provider.close()

    assert err.value.retryable


async def test_given_outage_when_outbox_delivers_through_twilio_then_it_retries_and_records_the_sid(
    twilio: tuple[FakeTwilio, str], db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    fake, base = twilio
    fake.outages = 1
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    async with db_sessions.begin() as db:
        good = Message(channel="sms", to="+15551230000", body="Pay here", next_attempt_at=t0)
        bad = Message(channel="sms", to=INVALID, body="Pay here", next_attempt_at=t0)
        db.add_all([good, bad])
    now = [t0]
    worker = OutboxWorker(
        db_sessions,
        {"sms": _provider(base)},
        WorkerSettings(instance_name="me", retry_base_s=30),
        SmsSettings(max_attempts=3),
        clock=lambda: now[0],
    )
    try:
        await worker.run_once()
        now[0] = t0 + timedelta(seconds=30)
        await worker.run_once()
    finally:
        await worker.providers["sms"].close()

    async with db_sessions() as db:
        rows = {m.to: m for m in (await db.scalars(select(Message))).all()}
    sent, failed = rows["+15551230000"], rows[INVALID]
    assert (sent.status, sent.attempts, sent.provider_id) == (
        JobStatus.DONE,
        2,
        f"SM{len(fake.requests):032x}",
    )
    assert [r["To"] for r in fake.requests] == ["+15551230000", INVALID, "+15551230000"]
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert "21211" in failed.last_error
