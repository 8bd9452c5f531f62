"""``hotel-operator demo``: a real call path with no PBX at hand.

The built-in Asterisk stand-in plays Asterisk; the service runs exactly as ``serve`` would (ARI,
externalMedia, RTP over loopback, VAD, Whisper, the brain, Piper, the database). The simulated caller
speaks with the bundled Piper voice, sent as 20 ms μ-law RTP like a SIP phone's audio bridged by
Asterisk. What is printed comes from the database: what the operator understood and what it said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
import time
from collections.abc import Callable, Sequence

from pydantic import SecretStr
from sqlalchemy import select

from ari_app.media.g711 import ulaw_encode
from ari_app.privacy import mask_card_numbers
from ari_app.service import Service, build_service
from ari_app.settings import Settings, mask_url
from ari_app.standin.apispec import ApiSpec, default_api_docs_dir
from ari_app.standin.rtp import RtpLeg
from ari_app.standin.server import AsteriskStandin
from models import ConversationTurn, Reservation, VoiceCall
from models.seed import seed_demo_hotel

log = logging.getLogger("ari_app.demo")

DEFAULT_SCRIPT = (
    "Hi, I would like to book a room for two adults next Friday for two nights.",
    "The King Deluxe, please.",
    "My name is Maria Lopez.",
    "Yes, that's right.",
    "Yes, please book it.",
    "No, that's all. Goodbye.",
)
CALLER_PREFIX = "+1555"  # 555 numbers are fictional in the North American plan
DID = "+15550100200"
SILENCE = 0xFF
TURN_TIMEOUT_S = 40.0


def demo_settings(base: Settings, standin: AsteriskStandin, password: str) -> Settings:
    """The user's settings, pointed at the stand-in, with listeners on free ports of loopback."""
    return base.model_copy(
        update={
            "asterisk": base.asterisk.model_copy(
                update={
                    "ari_url": standin.base_url,
                    "ari_user": standin.user,
                    "ari_password": SecretStr(password),
                    "additional_servers": [],
                    "ami_enabled": False,
                    "agi_host": "127.0.0.1",
                    "agi_port": 0,
                }
            ),
            "media": base.media.model_copy(update={"rtp_host": "127.0.0.1", "advertise_host": None}),
            "http": base.http.model_copy(update={"host": "127.0.0.1", "port": 0}),
        }
    )


def _is_idle(payload: bytes) -> bool:
    return payload.count(SILENCE) == len(payload)


async def _wait(predicate: object, timeout_s: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def fresh_caller_number() -> str:
    """A new caller number per run, so one demo's bookings don't make the next a "returning guest"."""
    return f"{CALLER_PREFIX}{secrets.randbelow(10**7):07d}"


def reservation_line(reservation: Reservation) -> str:
    guests = f"{reservation.adults} adult{'s' if reservation.adults != 1 else ''}"
    if reservation.children:
        guests += f", {reservation.children} child{'ren' if reservation.children != 1 else ''}"
    return (
        f"reservation {reservation.confirmation_code}: {reservation.guest_name}, "
        f"{reservation.check_in} → {reservation.check_out}, {guests}, "
        f"total {reservation.total} {reservation.currency}"
    )


def unspoken_notice(lines: Sequence[str], said: int) -> list[str]:
    """Lines the caller never got to say because the call ended first (a transfer, a hang-up)."""
    rest = list(lines[said:])
    if not rest:
        return []
    return [f"the call ended before the caller said {len(rest)} more line(s):", *(f"  not said: {mask_card_numbers(x)}" for x in rest)]


async def _agent_reply_done(
    leg: RtpLeg, since: int, gone: Callable[[], bool] = lambda: False, timeout_s: float = TURN_TIMEOUT_S
) -> bool:
    """Wait for our voice to start after packet ``since`` and then stay quiet for 0.8 s.

    Once the caller's channel is gone no packet will come (no idle ones either), so waiting for
    40 quiet packets would sit out the whole timeout: a gone channel ends the wait at once.
    """
    deadline = time.monotonic() + timeout_s
    started = False
    while time.monotonic() < deadline:
        if gone():
            return started or len(leg.captured) > since
        packets = leg.captured[since:]
        if not started:
            started = any(not _is_idle(p.payload) for p in packets)
        elif len(packets) >= 40 and all(_is_idle(p.payload) for p in packets[-40:]):
            return True
        await asyncio.sleep(0.1)
    return started


async def _print_new_turns(service: Service, call_row: int, shown: int) -> int:
    async with service.sessions() as db:
        turns = (
            await db.execute(
                select(ConversationTurn)
                .where(ConversationTurn.call_id == call_row, ConversationTurn.turn_number > shown)
                .order_by(ConversationTurn.turn_number)
            )
        ).scalars().all()
    for t in turns:
        who = "operator" if t.role == "agent" else "caller (as heard)"
        latency = f"  [{t.latency_ms} ms]" if t.latency_ms else ""
        print(f"  {who:>18}: {t.content}{latency}", flush=True)
        shown = t.turn_number
    return shown


def demo_spec() -> ApiSpec:
    """Asterisk's own API description where it is at hand, else the project's, said once at INFO.

    The api-docs folder is Asterisk's (``rest-api/api-docs`` of its source); a user trying the
    demo has no reason to own it, so its absence is not worth a warning on every run.
    """
    folder = default_api_docs_dir()
    if folder.is_dir() and any(folder.glob("*.json")):
        return ApiSpec.from_api_docs(folder)
    log.info("stand-in validates ARI requests against the project's own description (no api-docs at %s)", folder)
    return ApiSpec.from_project_description()


async def run_demo(settings: Settings, script: Sequence[str] | None = None, caller: str | None = None) -> int:
    lines = list(script or DEFAULT_SCRIPT)
    password = secrets.token_urlsafe(16)
    print(f"hotel-operator demo: {settings.hotel.name}, database {mask_url(settings.database.url)}", flush=True)
    async with AsteriskStandin(user="hotel", password=password, spec=demo_spec()) as standin:
        cfg = demo_settings(settings, standin, password)
        print("loading speech models (bundled Whisper tiny.en and Piper voice)…", flush=True)
        service = await build_service(cfg)
        await seed_demo_hotel(service.sessions)
        runner = asyncio.create_task(service.run(), name="demo-service")
        try:
            return await _call(service, standin, lines, caller or fresh_caller_number())
        finally:
            service.request_stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, 30)


async def _call(service: Service, standin: AsteriskStandin, lines: list[str], caller: str) -> int:
    await _wait(lambda: standin.app_connected(service.settings.asterisk.app_name), 15, "ARI connection")
    speech = service.deps.speech
    assert speech is not None
    voice = speech.voice_for("en")
    rendered = [ulaw_encode(await voice.synthesize(line)) for line in lines]

    print(f"\ncall from {caller} to {DID} (Stasis {service.settings.asterisk.app_name}):", flush=True)
    channel = standin.place_call(caller_number=caller, did=DID, args=("inbound", DID))  # as conf render routes a DID

    def media_leg() -> RtpLeg | None:
        for ch in standin.live_channels("unicast"):
            if ch.leg is not None and ch.leg.sending:
                return ch.leg
        return None

    await _wait(lambda: media_leg() is not None, 15, "externalMedia bridged")
    leg = media_leg()
    assert leg is not None
    async with service.sessions() as db:
        call = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()
    def gone() -> bool:
        return channel not in standin.channels or standin.channels[channel].gone

    shown = 0
    said = 0
    ok = await _agent_reply_done(leg, 0, gone)
    shown = await _print_new_turns(service, call.id, shown)
    for line, audio in zip(lines, rendered, strict=True):
        if gone():
            break
        # what the scripted caller says is caller speech too: card data never reaches a terminal log
        print(f"  {'caller (says)':>18}: {mask_card_numbers(line)}", flush=True)
        said += 1
        mark = len(leg.captured)
        leg.say(audio)
        await _wait(lambda: not leg.saying, 30, "caller audio sent")
        ok = await _agent_reply_done(leg, mark, gone) and ok
        shown = await _print_new_turns(service, call.id, shown)
    if not gone():
        standin.hangup_caller(channel)
    for notice in unspoken_notice(lines, said):
        print(notice, flush=True)
    return await _summary(service, call.id, ok)


async def _summary(service: Service, call_row: int, heard_every_reply: bool) -> int:
    for _ in range(100):
        async with service.sessions() as db:
            call = await db.get(VoiceCall, call_row)
            if call is not None and call.status != "active":
                break
        await asyncio.sleep(0.1)
    async with service.sessions() as db:
        call = await db.get(VoiceCall, call_row)
        assert call is not None
        reservation = None
        if call.reservation_id is not None:
            reservation = await db.get(Reservation, call.reservation_id)
        if reservation is None:
            reservation = (
                await db.execute(select(Reservation).where(Reservation.call_session_id == call.session_id))
            ).scalar_one_or_none()
    print(f"\ncall {call.session_id}: {call.status} ({call.end_reason}), {call.duration_s} s", flush=True)
    print(f"tools run: {', '.join(call.tools_executed) or 'none'}", flush=True)
    if reservation is not None:
        print(reservation_line(reservation), flush=True)
    else:
        print("no reservation was made on this call", flush=True)
    if not heard_every_reply:
        print("demo: the operator did not answer every turn (see the log above)", file=sys.stderr)
        return 1
    return 0
