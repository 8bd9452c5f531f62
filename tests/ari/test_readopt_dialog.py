"""A booking half made when the service dies goes on after a quick restart (issue 16 D11, DESIGN 2.7).

Through the stand-in, over real RTP, on a real database (SQLite file and PostgreSQL): the caller
gives dates and guests to the embedded brain, the process dies without any cleanup (no write, no
request reaches Asterisk or the database after that moment), a new process re-adopts the caller
from its open row, and the caller's next words go on with the booking: the reservation row holds
the dates and guests given to the dead process. Speech recognition is a stand-in that hears the
line the test sets (what is under test is the call's state, not Whisper); the caller's turns are
real audio through the stand-in's RTP, found by the real VAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from arikit import eventually, make_settings, next_media_settings, running_manager
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "speech"))

from speechsupport import FakeStt, FakeTts, make_engines, voice  # noqa: E402

from ari_app.brain.embedded import EmbeddedBrain  # noqa: E402
from ari_app.conversation import (  # noqa: E402
    RESUME_APOLOGY,
    CallConversation,
    ConversationDeps,
    conversation_factory,
)
from ari_app.ivr.config import MenuStore  # noqa: E402
from ari_app.media.g711 import ulaw_encode  # noqa: E402
from ari_app.session import CallInfo  # noqa: E402
from ari_app.settings import Settings  # noqa: E402
from ari_app.standin import AsteriskStandin  # noqa: E402
from ari_app.standin.rtp import RtpLeg  # noqa: E402
from models.calls import CallStatus  # noqa: E402
from models.hotel import Reservation  # noqa: E402
from models.seed import seed_demo_hotel  # noqa: E402
from models.store import CallStore, DialogRecord  # noqa: E402

CALLER = "+15551230177"


class KillableStore(CallStore):
    """The store of a process that gets ``kill -9``: once ``dead``, nothing it writes arrives."""

    dead = False

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        if self.dead:
            raise ConnectionError("the process is dead")
        async with super()._write() as db:
            yield db

    async def close_call(self, call_id: int, *args: Any, **kwargs: Any) -> None:
        if not self.dead:
            await super().close_call(call_id, *args, **kwargs)


# everything a dying process might still send to Asterisk; a killed one sends none of it
TEARDOWN_OPS = (
    "channels.setChannelVar",
    "channels.hangup",
    "channels.continueInDialplan",
    "channels.play",
    "bridges.destroy",
    "bridges.removeChannel",
)


def _media_leg(standin: AsteriskStandin, caller: str) -> RtpLeg | None:
    """The externalMedia leg bridged with the caller now (a new process makes a new one)."""
    for bridge in standin.bridges.values():
        if caller in bridge.channels:
            for cid in bridge.channels:
                ch = standin.channels.get(cid)
                if ch is not None and ch.kind == "unicast" and ch.leg is not None and not ch.gone:
                    return ch.leg
    return None


def _deps(settings: Settings, tmp_path: Path, stt: FakeStt) -> ConversationDeps:
    """What one process loads: its own brain and engines (a new process starts with nothing).

    Short hangovers and a quick voice: the call's state is under test, not turn-taking, and each of
    the six turns otherwise spent seconds in silence and in replies played in real time.
    """
    return ConversationDeps(
        settings=settings,
        brain=EmbeddedBrain(),
        menus=MenuStore.from_settings(settings),
        speech=make_engines(
            tmp_path, stt=stt, tts=FakeTts(frames_per_word=1), vad_end_ms=300, vad_open_end_ms=300
        ),
    )


async def _agent_turns(store: CallStore, row: int) -> list[str]:
    return [t.content for t in await store.call_turns(row) if t.role == "agent"]


async def _until(check: Callable[[], Awaitable[bool]], within_s: float = 20.0) -> None:
    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - the state is in the database, not an Event
            await asyncio.sleep(0.05)


def _next_december(day: int, settings: Settings) -> date:
    """The date "december <day>" means to the brain: the next one from the hotel's today."""
    today = datetime.now(ZoneInfo(settings.hotel.timezone)).date()
    d = date(today.year, 12, day)
    return d if d >= today else date(today.year + 1, 12, day)


async def test_given_a_booking_half_made_when_the_service_is_killed_and_restarted_then_the_caller_goes_on_and_books(
    db_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await seed_demo_hotel(db_sessions)
    standin = AsteriskStandin(seed=4)
    await standin.start()
    try:
        settings = make_settings(standin, next_media_settings())
        settings.hotel.payment_link_secret = SecretStr("test-payment-secret")
        settings.calls.fallback_timeout_s = 0  # a quick restart: the caller is still in Stasis
        settings.calls.inactivity_s = 600
        stt = FakeStt()
        # the stand-in sends silence once an utterance is said: the hangover needs no padding
        utterance = ulaw_encode(voice(0.4, level=0.3))
        dying = KillableStore(db_sessions)

        async def caller_says(text: str, store: CallStore, row: int) -> str:
            """The caller speaks one line; returns the agent's reply once it is stored."""
            before = len(await _agent_turns(store, row))
            stt.text = text
            leg = _media_leg(standin, cid)
            assert leg is not None
            leg.say(utterance)

            async def answered() -> bool:
                return len(await _agent_turns(store, row)) > before

            await _until(answered)
            return (await _agent_turns(store, row))[-1]

        async with running_manager(settings, dying, conversation_factory(_deps(settings, tmp_path, stt)), drain_s=0.5) as first:
            cid = standin.place_call(caller_number=CALLER, context="from-trunk")
            await eventually(lambda: cid in first.calls and first.calls[cid].row_id is not None, 5)
            call = first.calls[cid]
            row = call.row_id or 0

            async def greeted() -> bool:
                return len(await _agent_turns(dying, row)) >= 1

            await _until(greeted)
            reply = await caller_says("I'd like to book a room from december third to the fifth", dying, row)
            assert "how many guests" in reply.lower()
            reply = await caller_says("two adults", dying, row)
            assert "which would you like" in reply.lower()

            async def state_stored() -> bool:
                record = await dying.load_dialog_state(row)
                return record is not None and '"stage":"offer"' in record.snapshot

            await _until(state_stored)
            # kill -9: from here nothing reaches the database or Asterisk
            dying.dead = True
            standin.refuse_websockets(503)
            for op in TEARDOWN_OPS:
                standin.fail_next(op, 500, count=10_000)
            await standin.drop_websockets()
        assert not standin.channels[cid].gone  # the caller is still there, in Stasis
        standin.clear_failures()
        standin.refuse_websockets(None)

        store = CallStore(db_sessions)  # the new process
        async with running_manager(settings, store, conversation_factory(_deps(settings, tmp_path, stt))) as second:
            await eventually(lambda: cid in second.calls and second.calls[cid].adopted, 5)
            assert second.calls[cid].row_id == row

            async def resumed() -> bool:
                turns = await _agent_turns(store, row)
                return bool(turns) and turns[-1].startswith(RESUME_APOLOGY)

            await _until(resumed)
            # it goes on with the question the caller was asked before the restart
            assert "which would you like" in (await _agent_turns(store, row))[-1].lower()
            await eventually(lambda: _media_leg(standin, cid) is not None, 5)
            reply = await caller_says("the cheapest one", store, row)
            assert "name" in reply.lower()
            reply = await caller_says("my name is jane doe", store, row)
            while "shall i book it" not in reply.lower():  # the phone step, then the read-back
                assert "sorry" not in reply.lower(), reply
                reply = await caller_says("yes", store, row)
            assert "December 3rd" in reply and "2 adults" in reply
            reply = await caller_says("yes", store, row)
            async with db_sessions() as db:
                (res,) = (await db.execute(select(Reservation))).scalars()
            assert (res.check_in, res.check_out, res.adults, res.children) == (
                _next_december(3, settings), _next_december(5, settings), 2, 0
            )
            assert (res.guest_name, res.phone) == ("Jane Doe", CALLER)
            assert " ".join(res.confirmation_code) in reply
            standin.hangup_caller(cid)
            await eventually(lambda: cid not in second.calls, 5)
        turns = await store.call_turns(row)
        greetings = [t for t in turns if t.role == "agent" and "thank you for calling" in t.content.lower()]
        assert len(greetings) == 1  # greeted once, by the process that answered
        assert [t.turn_number for t in turns] == sorted({t.turn_number for t in turns})
        closed = await store.get_call(row)
        assert closed is not None and closed.status == CallStatus.COMPLETED
    finally:
        await standin.stop()


class _StoredState(CallStore):
    """A store whose call has two stored turns and the given dialog-state text (or a failing read)."""

    def __init__(self, text: str | None) -> None:
        super().__init__(cast(Any, None))  # never queried: every read below is answered here
        self.text = text

    async def call_turns(self, call_id: int) -> list[Any]:
        return [
            SimpleNamespace(role="agent", content="Thank you for calling. How can I help you?", input_mode="speech"),
            SimpleNamespace(role="caller", content="A room for two next friday", input_mode="speech"),
        ]

    async def load_dialog_state(self, call_id: int) -> DialogRecord | None:
        if self.text is None:
            raise ConnectionError("database gone")
        return DialogRecord(4, "llm", self.text)


@pytest.mark.parametrize("stored", ["{not json", None], ids=["damaged", "unreadable"])
async def test_given_an_llm_call_re_adopted_without_a_usable_state_then_its_messages_are_rebuilt_from_the_turns(
    stored: str | None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings()
    brain = SimpleNamespace(name="llm")
    deps = ConversationDeps(settings=settings, brain=cast(Any, brain), menus=MenuStore.from_settings(settings))
    session = SimpleNamespace(
        store=_StoredState(stored), settings=settings, info=CallInfo("s9", 9, "c9", adopted=True)
    )
    conversation = CallConversation(deps, cast(Any, session))
    await conversation._resume_history()
    await conversation._resume_dialog()
    messages = conversation.ctx.llm_messages
    assert [m["role"] for m in messages] == ["system", "assistant", "user"]
    assert messages[2]["content"] == "A room for two next friday"
    assert conversation.ctx.state.stage == "idle"  # a fresh dialog, no half state
    assert any("dialog state" in r.getMessage() for r in caplog.records)
