"""Caller screening decisions on a real database, with the clock given by the test (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.screening import (
    ScreeningError,
    list_entries,
    number_key,
    remove_entry,
    screen_caller,
    set_entry,
)
from ari_app.settings import ScreeningSettings
from models import VoiceCall

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CALLER = "+1 555-010-0199"


async def _calls(sessions: async_sessionmaker[AsyncSession], number: str, *ages_min: float) -> None:
    async with sessions() as session, session.begin():
        for i, age in enumerate(ages_min):
            session.add(
                VoiceCall(
                    session_id=f"s-{number_key(number)}-{i}-{age}",
                    channel_id=f"ch-{i}",
                    caller_id=number,
                    started_at=NOW - timedelta(minutes=age),
                )
            )


async def test_given_a_number_under_its_hourly_limit_when_screened_then_it_is_answered(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _calls(db_sessions, "15550100199", 5, 30, 90)  # the 90-minute-old call is outside the hour
    decision = await screen_caller(db_sessions, ScreeningSettings(max_calls_per_hour=3), CALLER, NOW)
    assert (decision.action, decision.reason, decision.calls_last_hour) == ("answer", "ok", 2)
    assert decision.end_reason == ""


async def test_given_a_number_at_its_hourly_limit_when_screened_then_it_is_rejected_as_rate_limited(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the same caller as the trunk wrote it in three spellings: all count
    await _calls(db_sessions, "+15550100199", 1)
    await _calls(db_sessions, "15550100199", 20)
    await _calls(db_sessions, "1 555 010 0199", 59)
    decision = await screen_caller(db_sessions, ScreeningSettings(max_calls_per_hour=3), CALLER, NOW)
    assert (decision.action, decision.reason, decision.calls_last_hour) == ("reject", "rate_limited", 3)
    assert decision.end_reason == "rate_limited"
    # an hour later the oldest has aged out of the window
    later = await screen_caller(
        db_sessions, ScreeningSettings(max_calls_per_hour=3), CALLER, NOW + timedelta(minutes=2)
    )
    assert later.action == "answer" and later.calls_last_hour == 2


async def test_given_the_current_call_row_already_written_when_screened_with_its_session_then_it_is_not_counted(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _calls(db_sessions, CALLER, 10, 0)
    decision = await screen_caller(
        db_sessions,
        ScreeningSettings(max_calls_per_hour=2),
        CALLER,
        NOW,
        exclude_session_id=f"s-{number_key(CALLER)}-1-0",
    )
    assert (decision.action, decision.calls_last_hour) == ("answer", 1)


async def test_given_other_numbers_calling_when_screened_then_only_this_number_counts(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _calls(db_sessions, "+15550100189", 1, 2, 3)  # same last digit, another caller
    await _calls(db_sessions, "+15550100198", 1, 2, 3)
    decision = await screen_caller(db_sessions, ScreeningSettings(max_calls_per_hour=1), CALLER, NOW)
    assert (decision.action, decision.calls_last_hour) == ("answer", 0)


async def test_given_a_blocked_number_when_screened_then_it_is_rejected_even_with_no_calls(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await set_entry(db_sessions, "+15550100199", "block", "robocaller", NOW)
    decision = await screen_caller(db_sessions, ScreeningSettings(), CALLER, NOW)
    assert (decision.action, decision.reason, decision.label) == ("reject", "blocked", "robocaller")
    assert decision.end_reason == "blocked"


async def test_given_an_allowed_staff_number_over_the_limit_when_screened_then_it_is_answered(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _calls(db_sessions, CALLER, 1, 2, 3, 4, 5)
    await set_entry(db_sessions, CALLER, "allow", "night manager", NOW)
    decision = await screen_caller(db_sessions, ScreeningSettings(max_calls_per_hour=2), CALLER, NOW)
    assert (decision.action, decision.reason, decision.label) == ("answer", "allowed", "night manager")


async def test_given_a_number_moved_from_block_to_allow_when_screened_then_the_allow_list_holds_it_once(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await set_entry(db_sessions, CALLER, "block", "", NOW)
    await set_entry(db_sessions, "15550100199", "allow", "VIP", NOW + timedelta(minutes=1))
    entries = await list_entries(db_sessions)
    assert [(e.number_key, e.kind, e.note) for e in entries] == [("15550100199", "allow", "VIP")]
    assert (await screen_caller(db_sessions, ScreeningSettings(), CALLER, NOW)).reason == "allowed"
    assert await remove_entry(db_sessions, CALLER) is True
    assert await remove_entry(db_sessions, CALLER) is False
    assert (await screen_caller(db_sessions, ScreeningSettings(), CALLER, NOW)).reason == "ok"


@pytest.mark.parametrize("policy", ["answer", "menu_only", "reject"])
@pytest.mark.parametrize("caller_id", ["", "anonymous", "Restricted", '"Withheld"', "unknown"])
async def test_given_a_withheld_number_when_screened_then_the_anonymous_policy_decides(
    db_sessions: async_sessionmaker[AsyncSession], policy: str, caller_id: str
) -> None:
    settings = ScreeningSettings.model_validate({"anonymous_policy": policy})
    decision = await screen_caller(db_sessions, settings, caller_id, NOW)
    assert (decision.action, decision.reason) == (policy, "anonymous")
    expected = {"answer": "", "menu_only": "anonymous_menu_only", "reject": "anonymous_rejected"}[policy]
    assert decision.end_reason == expected


async def test_given_screening_disabled_when_a_blocked_number_calls_then_it_is_answered(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    await set_entry(db_sessions, CALLER, "block", "", NOW)
    decision = await screen_caller(db_sessions, ScreeningSettings(enabled=False), CALLER, NOW)
    assert decision.action == "answer"


async def test_given_a_naive_clock_or_a_number_without_digits_when_used_then_a_clear_error(
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(ValueError, match="aware"):
        await screen_caller(db_sessions, ScreeningSettings(), CALLER, NOW.replace(tzinfo=None))
    with pytest.raises(ScreeningError, match="no digits"):
        await set_entry(db_sessions, "anonymous", "block", "", NOW)
    with pytest.raises(ScreeningError, match="list must be"):
        await set_entry(db_sessions, CALLER, "maybe", "", NOW)
