"""A call the hotel placed opens with who calls and why, not the inbound greeting (issue 13)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.outbound_opening import opening_line, outbound_opening, request_id_from_args
from models.voice_api import OutboundCall


def test_given_stasis_args_when_read_then_only_outbound_with_an_id_names_a_request() -> None:
    assert request_id_from_args(("outbound", "ab12")) == "ab12"
    assert request_id_from_args(("outbound",)) is None  # a due callback: no request row
    assert request_id_from_args(("inbound", "100")) is None
    assert request_id_from_args(()) is None


def test_given_each_purpose_when_worded_then_the_hotel_and_the_message_come_first() -> None:
    hotel = "Harbour View Hotel"
    assert opening_line("reminder", "Your stay starts tomorrow, check-in from 3 pm", hotel) == (
        "Hello, this is Harbour View Hotel with a reminder. Your stay starts tomorrow, check-in from 3 pm. "
        "Is there anything I can help you with?"
    )
    assert opening_line("callback", "", hotel) == "Hello, this is Harbour View Hotel returning your call. How can I help you?"
    custom = opening_line("custom", "Your lost  umbrella was found!", hotel)
    assert custom == "Hello, this is Harbour View Hotel. Your lost umbrella was found! Is there anything I can help you with?"


def test_given_staff_typed_a_card_number_when_worded_then_it_is_never_spoken() -> None:
    line = opening_line("custom", "Card 4111 1111 1111 1111 was declined", "H")
    assert "4111" not in line


async def test_given_a_stored_request_when_the_call_opens_then_its_words_are_used_and_unknown_ids_fall_back(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sqlite_sessions.begin() as db:
        db.add(OutboundCall(request_id="r1", number="+15551230100", purpose="reminder", message="Breakfast is at 7."))
    said = await outbound_opening(sqlite_sessions, ("outbound", "r1"), "Harbour View Hotel")
    assert said is not None and said.startswith("Hello, this is Harbour View Hotel with a reminder. Breakfast is at 7.")
    assert await outbound_opening(sqlite_sessions, ("outbound", "nope"), "H") is None
    assert await outbound_opening(sqlite_sessions, ("outbound",), "H") is None
