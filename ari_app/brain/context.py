"""Everything a brain knows about one call, kept per call so brains themselves stay stateless.

Brains are shared by all calls; each call's dialog state, turns and LLM message history live here.
A fallback from the LLM to the embedded brain therefore keeps the call's history and continues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ari_app.tools.errors import ToolError
from ari_app.tools.facts import HotelFacts, load_facts
from ari_app.tools.registry import ToolRegistry
from ari_app.tools.types import ToolContext, ToolResult

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from ari_app.session import CallSession
    from ari_app.settings import Settings
    from models.store import CallStore


@dataclass
class Turn:
    role: str  # caller | agent
    text: str
    mode: str = "speech"


@dataclass
class ModifyDraft:
    """A change to an existing booking in the making.

    ``booking`` is the booking as found; the other slots hold only what the caller asked to change
    (None = keep), so the read-back and the tool call can name exactly what differs.
    """

    code: str | None = None
    booking: dict[str, Any] | None = None
    booking_type: str | None = None  # room type code of the booking as found
    by_caller_id: bool = False
    name: str | None = None  # the name given when calling from another phone
    pending: str = ""  # what the caller asked for before the booking was identified
    check_in: date | None = None
    check_out: date | None = None
    adults: int | None = None
    children: int | None = None
    pets: bool | None = None
    room_type: str | None = None
    last_date: str = ""  # in | out | move | range: the date a bare "no, the sixth" corrects
    date_base: tuple[date, date] | None = None  # the stay before that last date change
    alternative: dict[str, Any] | None = None


@dataclass
class DialogState:
    """The embedded brain's slots and where the conversation stands."""

    stage: str = "idle"
    intent: str | None = None
    check_in: date | None = None
    check_out: date | None = None
    pending_nights: int | None = None
    adults: int | None = None
    children: int = 0
    pets: bool = False
    room_type: str | None = None  # code
    guest_name: str | None = None
    phone: str | None = None
    email: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    alternative: dict[str, Any] | None = None
    total: Decimal | None = None
    failures: int = 0
    fallback_offered: bool = False
    booking_key: str | None = None
    confirmation_code: str | None = None
    cancel_code: str | None = None
    cancel_name: str | None = None
    callback_when: datetime | None = None
    last_prompt: str = ""
    room_types: list[dict[str, Any]] = field(default_factory=list)
    modify: ModifyDraft = field(default_factory=ModifyDraft)
    rooms: int = 1
    date_source: str = ""  # in (arrival + nights) | range (both dates): what a bare "no, the fifth" corrects
    listed: int = 0  # how many of ``options`` the offer named aloud
    name_spelled: bool = False  # the caller spelled (or confirmed the spelling of) the name
    not_understood: int = 0  # turns not understood over the whole call (``failures`` resets)
    resume_stage: str = ""  # the stage to return to when the caller does not end the call after all
    cancel_found: list[dict[str, Any]] = field(default_factory=list)  # the caller's bookings, to pick one
    yes_to_list: int = 0  # bare "yes" answers to "which room would you like?"
    name_tries: int = 0  # times the caller said the name we read back was wrong
    names_heard: list[str] = field(default_factory=list)  # the names read back and turned down, for the desk
    name_unsure: bool = False  # booked under the name as heard; the front desk confirms the spelling

    def reset_booking(self) -> None:
        self.rooms = 1
        self.date_source = ""
        self.listed = 0
        self.name_spelled = False
        self.yes_to_list = 0
        self.name_tries = 0
        self.names_heard = []
        self.name_unsure = False
        self.check_in = self.check_out = None
        self.pending_nights = None
        self.adults = None
        self.children = 0
        self.pets = False
        self.room_type = None
        self.options = []
        self.alternative = None
        self.total = None
        self.booking_key = None


@dataclass
class CallContext:
    tools: ToolContext
    registry: ToolRegistry
    language: str = "en"
    turns: list[Turn] = field(default_factory=list)
    state: DialogState = field(default_factory=DialogState)
    llm_messages: list[dict[str, Any]] = field(default_factory=list)
    llm_failed: bool = False

    @property
    def caller_number(self) -> str:
        return self.tools.caller_number

    @property
    def call_id(self) -> int | None:
        return self.tools.call_id

    @property
    def session_id(self) -> str | None:
        return self.tools.session_id

    @property
    def facts(self) -> HotelFacts:
        return self.tools.facts

    @property
    def settings(self) -> Settings:
        return self.tools.settings

    def today(self) -> date:
        return self.tools.today()

    def now(self) -> datetime:
        return self.tools.now()

    async def run_tool(
        self, name: str, arguments: dict[str, Any]
    ) -> tuple[ToolResult | None, ToolError | None]:
        """Run through the registry; a ToolError comes back as a value so brains can speak it."""
        try:
            return await self.registry.run(self.tools, name, arguments), None
        except ToolError as exc:
            return None, exc

    @classmethod
    def create(
        cls,
        *,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        store: CallStore | None = None,
        caller_number: str = "",
        call_id: int | None = None,
        session_id: str | None = None,
        language: str = "en",
        facts: HotelFacts | None = None,
        registry: ToolRegistry | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> CallContext:
        tools = ToolContext(
            sessions=sessions,
            settings=settings,
            facts=facts or load_facts(settings.hotel),
            store=store,
            call_id=call_id,
            session_id=session_id,
            caller_number=caller_number,
            clock=clock or (lambda: datetime.now(UTC)),
        )
        return cls(tools=tools, registry=registry or ToolRegistry(), language=language)

    @classmethod
    def for_session(
        cls,
        session: CallSession,
        *,
        facts: HotelFacts | None = None,
        registry: ToolRegistry | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> CallContext:
        """The context for a live call: caller, call row and store come from the call session."""
        info = session.info
        return cls.create(
            sessions=session.store.sessions,
            settings=session.settings,
            store=session.store,
            caller_number=info.caller_number,
            call_id=info.call_row_id,
            session_id=info.session_id,
            language=info.language,
            facts=facts,
            registry=registry,
            clock=clock,
        )
