"""Benchmark: scripted calls by flite-voiced callers, heard by Whisper, answered by the embedded brain.

Each script is a caller's lines (bookings with corrections, several rooms, holidays, change, cancel,
info, transfer, a card number). Every line is spoken by a flite voice (slt, rms, awb, kal in turn:
never the operator's Piper voice), turned to text by the bundled Whisper tiny.en exactly as the
speech loop does (8 kHz audio in), and the text goes to the embedded brain with a real SQLite
database; after the call the database is checked against what the caller wanted.

The caller reacts in one way only: when the operator reads back the name with a wrong spelling (it
does so for every name it heard rather than had spelled), the caller says the name again (and then spells
it), as a caller on the phone would; those turns count. Everything else is scripted.

A booking under a name other than the caller's is right only in one case: after two failed
corrections the operator says it books the name as heard and that the front desk will confirm the
spelling, and the call leaves the desk a lead naming the booking's code. The room, dates and guests
must still be right; the per-script line and the total say how many were right that way.

Printed: per-script outcome (right/WRONG, caller turns, and on a wrong one what Whisper heard), the
share of scripts that end with the right database state, and the mean number of caller turns per
completed booking. Goals (issue 11): >= 95 % right, <= 6 turns per booking. The baseline, run in
the same process, feeds the scripts' own text to the brain (no speech): the ratio shows what
Whisper on flite audio costs.

    .venv/bin/python bench/dialog.py [--text-only] [--only NAME] [--verbose]

Renderings of the lines are cached in tests/fixtures/flite/ (committed), so flite is needed only for
new lines.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from flitevoice import VOICES, speak  # noqa: E402

from ari_app.brain import Action, CallContext, EmbeddedBrain, Say, ToolCalled  # noqa: E402
from ari_app.settings import HotelSettings, Settings  # noqa: E402
from models import Base  # noqa: E402
from models.db import make_engine, session_factory  # noqa: E402
from models.hotel import Lead, Message, Reservation  # noqa: E402
from models.seed import seed_demo_hotel  # noqa: E402
from models.store import CallStore  # noqa: E402

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 20 November 2026, 10:00 in New York
CALLER = "+15551230134"
OTHER = "+14155550000"


@dataclass
class Outcome:
    """What a call left behind: the rows the checks look at, and what happened in the call."""

    reservations: list[Reservation]
    messages: int
    leads: list[Lead]
    actions: list[str]
    tools: list[str]
    heard: list[str]
    replies: list[str]
    said: list[str]
    turns_to_booking: int | None

    def name_left_to_desk(self, r: Reservation) -> bool:
        """The booking is under the name as heard and the call left the front desk a note, naming
        the booking, to confirm the spelling (what the operator does after two failed corrections)."""
        return any(r.confirmation_code in lead.interest and "spelling" in lead.interest for lead in self.leads)


Check = Callable[[Outcome], str | None]


@dataclass
class Script:
    name: str
    lines: list[str]
    check: Check
    caller: str = CALLER
    setup: list[tuple[str, str, str, str]] = field(default_factory=list)  # (check-in, check-out, name, phone)
    booking: bool = False  # a script whose goal is a new reservation (counted for turns per booking)


def booked(
    name: str | None = None,
    ci: date | None = None,
    co: date | None = None,
    adults: int | None = None,
    rooms: int = 1,
    children: int = 0,
) -> Check:
    def check(o: Outcome) -> str | None:
        new = [r for r in o.reservations if r.call_session_id and r.call_session_id.startswith("bench-")]
        if len(new) != 1:
            return f"{len(new)} reservations made"
        r = new[0]
        got = (r.guest_name, r.check_in, r.check_out, r.adults, r.rooms, r.children)
        # a name the operator could not make out is right only when the desk was told to confirm it
        # (and the caller was told so): the room is held, the name is not claimed to be right
        desk = (
            name is not None
            and r.guest_name != name
            and o.name_left_to_desk(r)
            and any("confirm the spelling" in reply for reply in o.replies)
        )
        want = (
            r.guest_name if desk else name or r.guest_name,
            ci or r.check_in,
            co or r.check_out,
            adults or r.adults,
            rooms,
            children,
        )
        return None if got == want else f"booked {got}, wanted {want}"

    return check


def statuses(want: dict[str, str], extra: Check | None = None) -> Check:
    def check(o: Outcome) -> str | None:
        got = {r.guest_name: r.status for r in o.reservations}
        if any(got.get(k) != v for k, v in want.items()):
            return f"statuses {got}, wanted {want}"
        return extra(o) if extra else None

    return check


def stay_of(name: str, ci: date, co: date) -> Check:
    def check(o: Outcome) -> str | None:
        rows = [r for r in o.reservations if r.guest_name == name]
        if len(rows) != 1 or len(o.reservations) != len({r.id for r in o.reservations}):
            return f"{len(rows)} bookings for {name}"
        got = (rows[0].check_in, rows[0].check_out)
        return None if got == (ci, co) else f"stay {got}, wanted {(ci, co)}"

    return check


def nothing_booked(action: str | None = None, tool: str | None = None) -> Check:
    def check(o: Outcome) -> str | None:
        if o.reservations:
            return f"{len(o.reservations)} reservations made"
        if action and action not in o.actions:
            return f"no {action} action (had {o.actions})"
        if tool and tool not in o.tools:
            return f"tool {tool} not run"
        return None

    return check


def both(a: Check, b: Check) -> Check:
    return lambda o: a(o) or b(o)


def card_refused(o: Outcome) -> str | None:
    if not any("never take card numbers" in r for r in o.replies):
        return "card number not refused plainly"
    if o.messages < 2:
        return "payment link not texted"
    return None


D = date
SCRIPTS: list[Script] = [
    Script("book: Bye-for-Hi opener", [
        "Bye, I would like to book a room for two adults next Friday for two nights.",
        "The standard queen, please.", "My name is John Smith.", "Yes, please.", "Yes, please book it.",
    ], booked("John Smith", D(2026, 11, 27), D(2026, 11, 29), 2), booking=True),
    Script("book: no, the fifth", [
        "I'd like a room on December fourth for two nights for two adults.", "No, the fifth.",
        "The double queen.", "My name is Priya Patel, P A T E L.", "Yes.", "Yes.",
    ], booked("Priya Patel", D(2026, 12, 5), D(2026, 12, 7), 2), booking=True),
    Script("book: not the fourth, the fifth", [
        "A room from December fourth to December sixth for two adults, please.",
        "No, not the fourth, the fifth.", "The cheapest one.", "My name is Maria Lopez.", "Yes.", "Yes.",
    ], booked("Maria Lopez", D(2026, 12, 5), D(2026, 12, 6), 2), booking=True),
    Script("book: actually three adults", [
        "Do you have a room for two people on December tenth for three nights?", "Actually, three adults.",
        "The double queen.", "My name is Tom Baker.", "Yes.", "Yes.",
    ], booked("Tom Baker", D(2026, 12, 10), D(2026, 12, 13), 3), booking=True),
    Script("book: two rooms for four adults", [
        "I need two rooms for four adults from December twelfth to December fourteenth.",
        "The king deluxe, please.", "My name is Ann Lee.", "Yes.", "Yes.",
    ], booked("Ann Lee", D(2026, 12, 12), D(2026, 12, 14), 4, rooms=2), booking=True),
    Script("book: New Year's Eve", [
        "Is there a room for New Year's Eve for two adults?", "Two nights.", "The standard queen.",
        "My name is Lee Chen.", "Yes.", "Yes.",
    ], booked("Lee Chen", D(2026, 12, 31), D(2027, 1, 2), 2), booking=True),
    Script("book: Christmas Eve for three nights", [
        "We'd like a room from Christmas Eve for three nights, two adults.", "The double queen, please.",
        "My name is Sarah Connor.", "Yes.", "Yes.",
    ], booked("Sarah Connor", D(2026, 12, 24), D(2026, 12, 27), 2), booking=True),
    Script("book: Easter weekend for two", [
        "Do you have anything for the Easter weekend for two?", "The standard queen.",
        "My name is James Brown.", "Yes.", "Yes.",
    ], booked("James Brown", D(2027, 3, 26), D(2027, 3, 29), 2), booking=True),
    Script("book: tonight for one person", [
        "Is there a room available tonight for one person?", "The cheapest one.", "My name is Mark Green.",
        "Yes.", "Yes.",
    ], booked("Mark Green", D(2026, 11, 20), D(2026, 11, 21), 1), booking=True),
    Script("book: the 24th for a week", [
        "I'd like a room from the twenty fourth of December for a week for two adults.",
        "The standard queen.", "My name is Emma Stone.", "Yes.", "Yes.",
    ], booked("Emma Stone", D(2026, 12, 24), D(2026, 12, 31), 2), booking=True),
    Script("book: disfluent", [
        "Uh, I'd like, um, a room for, for two people, on December eighth, for two nights.",
        "Um, the standard queen.", "It's Peter Parker.", "Yes.", "Yes.",
    ], booked("Peter Parker", D(2026, 12, 8), D(2026, 12, 10), 2), booking=True),
    Script("book: plain opener", [
        "I'd like to make a reservation.", "December fifteenth.", "Two nights.", "Two adults.",
        "The standard queen.", "My name is Jane Doe.", "Yes.", "Yes.",
    ], booked("Jane Doe", D(2026, 12, 15), D(2026, 12, 17), 2), booking=True),
    Script("book: next weekend for two", [
        "A room next weekend for two, please.", "The king deluxe.", "My name is Olivia Wilde.", "Yes.", "Yes.",
    ], booked("Olivia Wilde", D(2026, 11, 27), D(2026, 11, 29), 2), booking=True),
    Script("book: no caller id, phone by voice", [
        "I want to book a room for two adults from December sixteenth to December eighteenth.",
        "The standard queen.", "My name is Bruce Wayne.", "Five five five, one two three, nine eight seven six.",
        "Yes.",
    ], booked("Bruce Wayne", D(2026, 12, 16), D(2026, 12, 18), 2), caller="anonymous", booking=True),
    Script("book: room type corrected", [
        "I'd like the standard queen on December ninth for two nights for two adults.",
        "My name is Clark Kent.", "Yes.", "Actually, make it the king deluxe.", "Yes.",
    ], booked("Clark Kent", D(2026, 12, 9), D(2026, 12, 11), 2), booking=True),
    Script("book: question first, then a family", [
        "What time is check in?",
        "Great. I'd like to book a room for two adults and two children on December eleventh for two nights.",
        "The double queen, please.", "My name is Diana Prince.", "Yes.", "Yes.",
    ], booked("Diana Prince", D(2026, 12, 11), D(2026, 12, 13), 2, children=2), booking=True),
    Script("change: one more night", [
        "I need to add one more night to my booking.", "Yes, please.",
    ], stay_of("Jane Doe", D(2026, 12, 15), D(2026, 12, 18)), setup=[("2026-12-15", "2026-12-17", "Jane Doe", CALLER)]),
    Script("change: no booking on this phone", [
        "I booked a room for December third, but I need to add one more night.",
        "Four one five, five five five, zero zero zero zero.", "Jane Doe.", "Yes.",
    ], stay_of("Jane Doe", D(2026, 12, 3), D(2026, 12, 6)), setup=[("2026-12-03", "2026-12-05", "Jane Doe", OTHER)]),
    Script("cancel: the right one of two", [
        "Hello, I need to cancel a reservation.", "The one under John Smith.", "Yes, please cancel it.",
    ], statuses({"Maria Lopez": "confirmed", "John Smith": "cancelled"}), setup=[
        ("2026-12-04", "2026-12-06", "Maria Lopez", CALLER), ("2026-12-20", "2026-12-23", "John Smith", CALLER),
    ]),
    Script("cancel: single booking", [
        "I need to cancel my booking.", "Yes, please.",
    ], statuses({"Jane Doe": "cancelled"}), setup=[("2026-12-15", "2026-12-17", "Jane Doe", CALLER)]),
    Script("info: parking, then goodbye", [
        "Hi, do you have parking at the hotel?", "No, that's all. Thank you, goodbye.",
    ], nothing_booked("hangup", "hotel_info")),
    Script("transfer: front desk", [
        "Can I speak to someone at the front desk, please?",
    ], nothing_booked("transfer")),
    Script("card: number refused, link texted", [
        "I'd like a room on December fourteenth for one night for two adults.", "The standard queen.",
        "My name is Ada Byron.", "Yes.", "Yes.",
        "My card number is four one one one, one one one one, one one one one, one one one one.", "Yes.",
    ], both(booked("Ada Byron", D(2026, 12, 14), D(2026, 12, 15), 2), card_refused)),
]  # fmt: skip


async def _setup(sessions: Any, settings: Settings, rows: list[tuple[str, str, str, str]]) -> None:
    """Earlier bookings, made through the same tool the brain uses."""
    ctx = CallContext.create(sessions=sessions, settings=settings, caller_number=CALLER, clock=lambda: NOW)
    for i, (ci, co, name, phone) in enumerate(rows):
        args = {
            "check_in": ci,
            "check_out": co,
            "adults": 2,
            "room_type": "STD",
            "guest_name": name,
            "phone": phone,
        }
        ctx.tools.session_id = f"setup-{i}"
        res, err = await ctx.run_tool("create_reservation", args)
        if res is None:
            raise RuntimeError(f"setup booking failed: {err}")


def _wanted_name(script: Script) -> str:
    for line in script.lines:
        m = re.search(r"(?:name is|It's) ([A-Z][a-z]+ [A-Z][a-z]+)", line)
        if m:
            return m.group(1)
    return ""


async def run_script(script: Script, n: int, hear: Callable[[str, str], Any], workdir: Path) -> Outcome:
    engine = make_engine(f"sqlite+aiosqlite:///{workdir / f'dialog-{n}.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    await seed_demo_hotel(sessions, today=NOW.date())
    settings = Settings(
        hotel=HotelSettings(timezone="America/New_York", payment_link_secret=SecretStr("bench-secret"))
    )
    await _setup(sessions, settings, script.setup)
    store = CallStore(sessions)
    sid = f"bench-{n}"
    call_id = await store.open_call(session_id=sid, channel_id=f"chan-{sid}", caller_id=script.caller)
    ctx = CallContext.create(
        sessions=sessions, settings=settings, store=store, caller_number=script.caller, call_id=call_id,
        session_id=sid, clock=lambda: NOW,
    )  # fmt: skip
    brain = EmbeddedBrain()
    async for _ in brain.greet(ctx):
        pass
    heard: list[str] = []
    replies: list[str] = []
    actions: list[str] = []
    tools: list[str] = []
    turns_to_booking: int | None = None
    lines = list(script.lines)
    want_name = _wanted_name(script)
    i = 0
    while i < len(lines):
        line = lines[i]
        text = await hear(line, VOICES[(n + i) % len(VOICES)])
        heard.append(text)
        said: list[str] = []
        async for ev in brain.respond(ctx, text, "speech"):
            if isinstance(ev, Say):
                said.append(ev.text)
            elif isinstance(ev, ToolCalled):
                tools.append(ev.name)
                if ev.name == "create_reservation" and ev.ok and turns_to_booking is None:
                    turns_to_booking = i + 1
            elif isinstance(ev, Action):
                actions.append(ev.kind)
        replies.append(" ".join(said))
        if any(a in ("hangup", "transfer", "menu") for a in actions):
            break
        # a caller who hears their name spelled wrong says it again, spelled (issue 17 F11)
        read_back = re.search(r"I have ([^,]+), spelled", replies[-1])
        if want_name and read_back and read_back.group(1) != want_name and len(lines) < len(script.lines) + 2:
            again = len(lines) > len(script.lines)  # said it once already: spell it this time
            spelled = ", ".join(" ".join(w.upper()) for w in want_name.split())
            lines.insert(i + 1, f"No, it's {spelled}." if again else f"No, my name is {want_name}.")
        i += 1
    async with sessions() as db:
        rows = list((await db.execute(select(Reservation).order_by(Reservation.id))).scalars())
        messages = int(await db.scalar(select(func.count()).select_from(Message)) or 0)
        leads = list((await db.execute(select(Lead).where(Lead.call_session_id == sid))).scalars())
    await engine.dispose()
    return Outcome(rows, messages, leads, actions, tools, heard, replies, lines[: len(heard)], turns_to_booking)


async def run_all(
    hear: Callable[[str, str], Any], label: str, scripts: list[Script], verbose: bool
) -> tuple[float, float]:
    right = 0
    to_desk = 0  # right, with the guest's name booked as heard and left to the front desk to confirm
    booking_turns: list[int] = []
    t0 = time.perf_counter()
    print(f"\n== {label}")
    with tempfile.TemporaryDirectory() as tmp:
        for script in scripts:
            n = SCRIPTS.index(script)  # the voices follow the script's place in the whole list, so --only hears the same
            outcome = await run_script(script, n, hear, Path(tmp))
            problem = script.check(outcome)
            ok = problem is None
            right += ok
            desk = ok and any(outcome.name_left_to_desk(r) for r in outcome.reservations)
            to_desk += desk
            if script.booking and outcome.turns_to_booking is not None:
                booking_turns.append(outcome.turns_to_booking)
            turns = outcome.turns_to_booking or len(outcome.heard)
            mark = " (name booked as heard, front desk to confirm the spelling)" if desk else ""
            print(f"  {'right' if ok else 'WRONG'}  {script.name:<40} caller turns {turns}{mark}")
            if not ok or verbose:
                if problem:
                    print(f"         problem: {problem}")
                for said, heard_text, reply in zip(
                    outcome.said, outcome.heard, outcome.replies, strict=False
                ):
                    mark = "" if said == heard_text else f"   (said: {said})"
                    print(f"         caller: {heard_text}{mark}")
                    print(f"         agent:  {reply}")
    share = right / len(scripts)
    mean_turns = sum(booking_turns) / len(booking_turns) if booking_turns else float("nan")
    print(
        f"  right database state: {right}/{len(scripts)} = {share:.1%} "
        f"({right - to_desk} with every field as the caller said, {to_desk} with the name left to the desk)   "
        f"mean caller turns per completed booking: {mean_turns:.2f} over {len(booking_turns)} bookings   "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return share, mean_turns


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--text-only", action="store_true", help="only the baseline: the scripts' text, no speech"
    )
    ap.add_argument("--only", default="", help="run the scripts whose name contains this")
    ap.add_argument("--verbose", action="store_true", help="print every conversation")
    ap.add_argument(
        "--hotwords",
        choices=("hotel", "default", "none"),
        default="default",
        help="Whisper hotwords: the engine's own (default: holidays, 'confirmation code'), those plus the "
        "seeded hotel's room-type names (hotel: what a start-up passing its room types would get), none",
    )
    a = ap.parse_args()
    scripts = [s for s in SCRIPTS if a.only.lower() in s.name.lower()]
    print(f"{len(scripts)} scripts, flite voices {', '.join(VOICES)}; today is {NOW.date()} (fixed clock)")

    async def exact(line: str, voice: str) -> str:
        return line

    base_share, base_turns = await run_all(
        exact, "baseline: the scripts' own text to the brain", scripts, a.verbose
    )
    if a.text_only:
        return
    from ari_app.settings import load_settings
    from ari_app.speech.engines import SpeechEngines

    settings = load_settings(None, env={"HOTEL_OPERATOR_SPEECH__PROMPT_CACHE_DIR": tempfile.mkdtemp()})
    engines = SpeechEngines.load(settings.speech, hotel_name=settings.hotel.name)
    from ari_app.speech.stt import WhisperStt, hotel_hotwords
    from models.seed import ROOM_TYPES

    if isinstance(engines.stt, WhisperStt):
        if a.hotwords == "hotel":  # the seeded hotel's room types, as a start-up would pass them
            engines.stt.hotwords = hotel_hotwords([row[1] for row in ROOM_TYPES])
        elif a.hotwords == "none":
            engines.stt.hotwords = None
        print(f"Whisper hotwords ({a.hotwords}): {engines.stt.hotwords!r}")
    try:

        async def whisper(line: str, voice: str) -> str:
            transcript = await engines.stt.transcribe(speak(line, voice))
            return transcript.text.strip()

        share, turns = await run_all(
            whisper, "flite voices -> Whisper tiny.en -> embedded brain", scripts, a.verbose
        )
    finally:
        engines.pool.close()
    print("\n== summary")
    print(
        f"  right database state   {share:.1%} (goal >= 95%)   baseline {base_share:.1%}   ratio {share / base_share:.3f}"
    )
    print(
        f"  caller turns / booking {turns:.2f} (goal <= 6)     baseline {base_turns:.2f}   ratio {turns / base_turns:.3f}"
    )
    print(f"  goals met: {'yes' if share >= 0.95 and turns <= 6 else 'NO'}")


if __name__ == "__main__":
    asyncio.run(main())
