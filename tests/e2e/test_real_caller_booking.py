"""A real caller end to end: a flite-voiced caller (not the operator's Piper voice) whose first line
starts with "Bye, I would like to book …" (how Whisper hears a clipped "Hi") books a room through
the stand-in: RTP → VAD → Whisper → embedded brain → Piper → RTP, and the reservation is in the
database afterwards (issue 11, issue 16 D1).

Real models (slow): the bundled Whisper tiny.en and Piper voice, loaded once for the module.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e_support import Stack, running_stack, wait_for, wait_until
from flitevoice import speak_or_skip
from sqlalchemy import select

from ari_app.media.g711 import ulaw_encode
from ari_app.settings import load_settings
from ari_app.speech.engines import SpeechEngines
from ari_app.standin.rtp import RtpLeg
from models import ConversationTurn, VoiceCall
from models.hotel import Reservation

pytestmark = pytest.mark.slow

CALLER = "+15557770101"
# What the caller says, in turn. The first line carries the stay, the room and the name at once (as a
# caller who knows what they want says it), so the booking takes three turns: the offer with the
# name read back and the question whether to use the calling number, then the read-back, then the
# confirmation code. The point is the first line: "Bye, …" must not end the call.
#
# The operator's first two answers are long (about 18 s and 13 s) and the caller, who knows what
# comes, barges in over them (a product feature: the speech loop flushes the reply and answers the
# new line) instead of sitting through them in real time. The first answer is heard for longer than
# any goodbye takes to say, so a goodbye-and-hang-up would still have played out (and ended the
# call) before the caller goes on; the last answer, the confirmation code, is heard to the end.
LINES = (
    "Bye, I would like to book the standard queen for two adults next Friday for two nights, "
    "and my name is John Smith.",
    "Yes, please.",
    "Yes, please book it.",
)
# seconds of each answer the caller hears before the next line (None: to the end)
HEARD_S = (6.0, 3.0, None)


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechEngines]:
    cache = tmp_path_factory.mktemp("prompts")
    settings = load_settings(None, env={"HOTEL_OPERATOR_SPEECH__PROMPT_CACHE_DIR": str(cache)})
    loaded = SpeechEngines.load(settings.speech, hotel_name=settings.hotel.name)
    yield loaded
    loaded.pool.close()


@pytest.fixture
async def stack(tmp_path: Path, engines: SpeechEngines) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, speech=engines) as s:
        from models.seed import seed_demo_hotel

        await seed_demo_hotel(s.service.sessions)
        yield s


def _quiet(leg: RtpLeg, frames: int) -> bool:
    tail = leg.captured[-frames:]
    return len(tail) == frames and all(p.payload.count(0xFF) == len(p.payload) for p in tail)


def _voiced_since(leg: RtpLeg, mark: int) -> bool:
    return any(p.payload.count(0xFF) != len(p.payload) for p in leg.captured[mark:])


def _first_voiced_since(leg: RtpLeg, mark: int) -> int:
    packets = leg.captured
    return next(
        i for i in range(mark, len(packets)) if packets[i].payload.count(0xFF) != len(packets[i].payload)
    )


def _heard_or_done(leg: RtpLeg, start: int, frames: int) -> bool:
    """``frames`` of the answer have gone by since it began, or it ended sooner (a short reply, or
    a goodbye: the caller checks the call is still up before going on)."""
    return len(leg.captured) - start >= frames or _quiet(leg, 40)


async def _turns(stack: Stack, channel: str) -> tuple[VoiceCall, list[ConversationTurn]]:
    async with stack.service.sessions() as db:
        call = (await db.execute(select(VoiceCall).where(VoiceCall.channel_id == channel))).scalar_one()
        turns = (
            (
                await db.execute(
                    select(ConversationTurn)
                    .where(ConversationTurn.call_id == call.id)
                    .order_by(ConversationTurn.turn_number)
                )
            )
            .scalars()
            .all()
        )
    return call, list(turns)


async def _caller_turns(stack: Stack, channel: str) -> int:
    _, turns = await _turns(stack, channel)
    return sum(t.role == "caller" for t in turns)


async def _more_caller_turns(stack: Stack, channel: str, before: int) -> bool:
    return await _caller_turns(stack, channel) > before


async def test_given_flite_caller_whose_first_line_starts_with_bye_when_booking_then_call_goes_on_and_room_is_booked(
    stack: Stack,
) -> None:
    audio = [ulaw_encode(speak_or_skip(line, "slt")) for line in LINES]
    ch = stack.standin.place_call(caller_number=CALLER, did="+15550100")
    await wait_for(lambda: stack.media_leg(ch) is not None, 10, "bridged")
    leg = stack.media_leg(ch)
    assert leg is not None
    await wait_for(lambda: _voiced_since(leg, 0), 20, "greeting heard")
    await wait_for(lambda: _quiet(leg, 40), 30, "greeting finished")
    for i, ulaw in enumerate(audio):
        before = await _caller_turns(stack, ch)
        leg.say(ulaw)
        await wait_for(lambda: not leg.saying, 20, f"line {i + 1} sent")
        # the answer begins once the line is heard and stored; what plays before is the answer the
        # caller barged in on (flushed as the line began)
        heard_line = functools.partial(_more_caller_turns, stack, ch, before)
        await wait_until(heard_line, 30, f"line {i + 1} heard")
        mark = len(leg.captured)
        # the operator answers every line; the first one above all must not be a goodbye and hang-up
        answered = functools.partial(_voiced_since, leg, mark)
        await wait_for(answered, 60, f"operator answers line {i + 1}")
        heard = HEARD_S[i]
        if heard is None:
            await wait_for(lambda: _quiet(leg, 40), 60, f"answer to line {i + 1} finished")
        else:  # the operator sends a frame every 20 ms, voice or silence: frames count time
            start = _first_voiced_since(leg, mark)
            enough = functools.partial(_heard_or_done, leg, start, int(heard * 50))
            await wait_for(enough, 60, f"{heard:g} s of the answer to line {i + 1} heard")
        call, _ = await _turns(stack, ch)
        assert call.status == "active", f"call ended after line {i + 1}: {call.end_reason}"

    async def booked() -> Reservation | None:
        async with stack.service.sessions() as db:
            return (await db.execute(select(Reservation))).scalars().first()

    try:
        res = await wait_until(booked, 30, "reservation written")
    except AssertionError:
        _, so_far = await _turns(stack, ch)
        raise AssertionError(
            "no booking; transcript: " + " | ".join(f"{t.role}: {t.content}" for t in so_far)
        ) from None
    stack.standin.hangup_caller(ch)
    await wait_for(lambda: not stack.service.managers[0].calls, 10, "call released")
    call, turns = await _turns(stack, ch)
    first_caller = next(t for t in turns if t.role == "caller")
    first_answer = turns[turns.index(first_caller) + 1]
    assert "book" in first_caller.content.lower(), first_caller.content
    assert "goodbye" not in first_answer.content.lower(), first_answer.content
    assert res.adults == 2 and (res.check_out - res.check_in).days == 2, (res.check_in, res.check_out)
    assert res.guest_name == "John Smith" and res.phone.endswith("5557770101")
    assert call.reservation_id == res.id and "create_reservation" in call.tools_executed
    assert " ".join(res.confirmation_code) in " ".join(t.content for t in turns if t.role == "agent")
