"""Given/when/then tests of every FreePBX-level behaviour of the pure IVR engine, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ari_app.ivr import (
    CallerHangup,
    CancelTimer,
    Digit,
    Hangup,
    IllegalEvent,
    IvrEngine,
    Play,
    PromptFinished,
    SetVariable,
    SpeechIntent,
    StartAgent,
    StartTimer,
    State,
    StopPlayback,
    Timeout,
    Transfer,
)
from ari_app.ivr.engine import TRANSITIONS, Action

MakeEngine = Callable[[], IvrEngine]


def plays(actions: list[Action]) -> list[str]:
    return [a.prompt.text or a.prompt.sound or "" for a in actions if isinstance(a, Play)]


def timer(actions: list[Action]) -> StartTimer:
    found = [a for a in actions if isinstance(a, StartTimer)]
    assert found, f"no StartTimer in {actions}"
    return found[-1]


def in_waiting(engine: IvrEngine) -> StartTimer:
    """Start the call and let the greeting finish; return the armed menu timer."""
    engine.start()
    return timer(engine.handle(PromptFinished()))


def test_given_weekday_noon_when_call_starts_then_main_prompt_plays_and_timer_starts_after_it(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    actions = engine.start()
    assert plays(actions) == ["Main menu."]
    assert SetVariable("HOTEL_IVR_MENU", "main") in actions
    assert not any(isinstance(a, StartTimer) for a in actions)
    t = timer(engine.handle(PromptFinished()))
    assert t.seconds == 10.0
    assert engine.state is State.WAITING


def test_given_waiting_when_menu_times_out_twice_then_retry_prompt_and_menu_replay_each_time(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    t = in_waiting(engine)
    for n in (1, 2):
        actions = engine.handle(Timeout(t.timer_id))
        assert plays(actions) == ["No input."]
        assert engine.timeouts == n
        assert plays(engine.handle(PromptFinished())) == ["Main menu."]
        t = timer(engine.handle(PromptFinished()))


def test_given_two_timeouts_when_third_timeout_then_final_destination_operator_transfer(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    t = in_waiting(engine)
    for _ in range(2):
        engine.handle(Timeout(t.timer_id))
        engine.handle(PromptFinished())
        t = timer(engine.handle(PromptFinished()))
    actions = engine.handle(Timeout(t.timer_id))
    assert Transfer("100", "from-internal", "front desk") in actions
    assert SetVariable("HOTEL_IVR_EXIT", "timeout") in actions
    assert engine.state is State.DONE
    assert engine.outcome is not None and engine.outcome.reason == "timeout"


def test_given_submenu_with_own_timeout_when_it_times_out_twice_then_goes_to_main_menu(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("1"))
    t = timer(engine.handle(PromptFinished()))
    assert t.seconds == 5.0
    engine.handle(Timeout(t.timer_id))
    engine.handle(PromptFinished())
    t = timer(engine.handle(PromptFinished()))
    actions = engine.handle(Timeout(t.timer_id))
    assert plays(actions) == ["Main menu."]
    assert engine.menu.id == "main"


def test_given_submenu_without_direct_dial_when_unmapped_key_then_invalid_prompt_then_menu_again(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("1"))
    assert plays(engine.handle(Digit("9"))) == ["Invalid."]
    assert plays(engine.handle(PromptFinished())) == ["Reservations menu."]
    assert timer(engine.handle(PromptFinished())).seconds == 5.0
    assert engine.invalids == 1


def test_given_waiting_when_unmapped_key_pressed_three_times_then_invalid_destination_goodbye_and_hangup(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    for n in (1, 2):
        actions = engine.handle(Digit("#"))
        assert plays(actions) == ["Invalid."], n
        engine.handle(PromptFinished())
        engine.handle(PromptFinished())
    actions = engine.handle(Digit("#"))
    assert plays(actions) == ["Goodbye."]
    assert SetVariable("HOTEL_IVR_EXIT", "invalid") in actions
    assert engine.state is State.CLOSING
    assert engine.handle(Digit("1")) == []  # the goodbye is not interruptible
    assert engine.handle(PromptFinished()) == [Hangup()]
    assert engine.outcome is not None and engine.outcome.kind == "hangup"


def test_given_prompt_playing_when_key_pressed_then_playback_stops_first_and_choice_applies(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    engine.start()
    actions = engine.handle(Digit("2"))
    assert actions[0] == StopPlayback()
    assert actions[-1] == Transfer("100", "from-internal", "front desk")


def test_given_direct_dial_when_room_number_then_hash_then_transfer_to_that_room(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start()
    actions = engine.handle(Digit("4"))
    assert actions[0] == StopPlayback()
    assert timer(actions).seconds == 3.0
    engine.handle(Digit("1"))
    engine.handle(Digit("2"))
    actions = engine.handle(Digit("#"))
    assert Transfer("412", "from-internal") in actions
    assert engine.outcome is not None and engine.outcome.reason == "direct_dial"


def test_given_direct_dial_when_three_digits_then_pause_then_interdigit_timeout_completes_number(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("6"))
    engine.handle(Digit("0"))
    t = timer(engine.handle(Digit("1")))
    assert Transfer("601", "from-internal") in engine.handle(Timeout(t.timer_id))


def test_given_direct_dial_when_max_digits_typed_then_transfer_without_waiting(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    for d in "710":
        engine.handle(Digit(d))
    actions = engine.handle(Digit("4"))
    assert Transfer("7104", "from-internal") in actions
    assert not any(isinstance(a, StartTimer) for a in actions)


def test_given_direct_dial_when_too_few_digits_then_counts_as_invalid(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("4"))
    actions = engine.handle(Digit("#"))
    assert plays(actions) == ["Invalid."]
    assert engine.invalids == 1


def test_given_key_that_is_both_option_and_number_start_when_pause_then_option_applies(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    t = timer(engine.handle(Digit("5")))
    assert engine.state is State.COLLECTING
    assert engine.handle(Timeout(t.timer_id))[-1] == Transfer("555", "from-internal", None)


def test_given_submenu_when_star_then_back_to_parent_menu(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("1"))
    engine.handle(PromptFinished())
    engine.handle(Digit("2"))
    assert engine.stack == ["main", "reservations", "changes"]
    actions = engine.handle(Digit("*"))
    assert plays(actions) == ["Reservations menu."]
    assert engine.stack == ["main", "reservations"]
    actions = engine.handle(Digit("7"))  # an explicit "back" option does the same
    assert plays(actions) == ["Main menu."]
    assert engine.stack == ["main"]


def test_given_top_menu_when_star_then_menu_is_repeated(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    assert plays(engine.handle(Digit("*"))) == ["Main menu."]
    assert engine.stack == ["main"]


def test_given_waiting_when_repeat_key_then_menu_prompt_again_and_counters_kept(make_engine: MakeEngine) -> None:
    engine = make_engine()
    t = in_waiting(engine)
    engine.handle(Timeout(t.timer_id))
    engine.handle(Digit("8"))
    assert engine.timeouts == 1
    assert engine.state is State.PROMPTING


def test_given_waiting_when_info_key_then_info_then_menu_then_timer(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    assert plays(engine.handle(Digit("3"))) == ["Breakfast is at seven."]
    assert plays(engine.handle(PromptFinished())) == ["Main menu."]
    assert timer(engine.handle(PromptFinished())).seconds == 10.0


def test_given_menu_without_zero_when_zero_pressed_then_operator(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("1"))
    assert engine.handle(Digit("0"))[-1] == Transfer("100", "from-internal", "front desk")


@pytest.mark.parametrize(
    ("utc", "menu"),
    [
        (datetime(2026, 3, 4, 11, 0, tzinfo=UTC), "main"),  # Wed 12:00 Paris
        (datetime(2026, 3, 4, 19, 30, tzinfo=UTC), "night"),  # Wed 20:30 Paris
        (datetime(2026, 3, 4, 6, 59, tzinfo=UTC), "night"),  # Wed 07:59 Paris
        (datetime(2026, 3, 8, 11, 0, tzinfo=UTC), "night"),  # Sunday
        (datetime(2026, 3, 7, 22, 0, tzinfo=UTC), "main"),  # Sat 23:00 (open 22-02)
        (datetime(2026, 3, 8, 0, 30, tzinfo=UTC), "main"),  # Sun 01:30, still Saturday's late shift
        (datetime(2026, 3, 8, 1, 30, tzinfo=UTC), "night"),  # Sun 02:30
        (datetime(2026, 12, 24, 11, 0, tzinfo=UTC), "holiday"),  # dated holiday (a Thursday)
        (datetime(2027, 1, 1, 11, 0, tzinfo=UTC), "holiday"),  # yearly holiday (a Friday)
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "holiday"),  # already 1 January in Paris
    ],
)
def test_given_hotel_clock_when_call_starts_then_day_night_or_holiday_menu(
    make_engine: MakeEngine, clock: Any, utc: datetime, menu: str
) -> None:
    clock.now = utc
    engine = make_engine()
    engine.start()
    assert engine.menu.id == menu


def test_given_menu_when_caller_says_synonym_then_same_as_pressing_its_key(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start()
    actions = engine.handle(SpeechIntent("Front desk"))
    assert actions[0] == StopPlayback()
    assert actions[-1] == Transfer("100", "from-internal", "front desk")
    assert SetVariable("HOTEL_IVR_CHOICE", "2") in actions
    assert engine.outcome is not None and engine.outcome.reason == "speech"


def test_given_menu_when_caller_says_a_sentence_containing_a_synonym_then_longest_match_wins(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(SpeechIntent("I'd like reservations please"))
    assert engine.menu.id == "reservations"
    actions = engine.handle(SpeechIntent("a new booking"))
    assert actions[-1] == StartAgent("reservations")


def test_given_menu_when_caller_says_something_unknown_then_counts_as_invalid(make_engine: MakeEngine) -> None:
    engine = make_engine()
    in_waiting(engine)
    assert plays(engine.handle(SpeechIntent("pizza delivery"))) == ["Invalid."]
    assert engine.invalids == 1


def test_given_agent_conversation_when_key_pressed_then_digit_wins_and_stops_agent_speech(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    assert engine.handle(Digit("9"))[-1] == StartAgent("main")
    assert engine.state is State.AGENT
    assert engine.handle(PromptFinished()) == []
    actions = engine.handle(Digit("2"))
    assert actions[0] == StopPlayback()
    assert actions[-1] == Transfer("100", "from-internal", "front desk")


def test_given_agent_conversation_when_speech_goes_to_engine_then_illegal_event_names_state(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    in_waiting(engine)
    engine.handle(Digit("9"))
    with pytest.raises(IllegalEvent, match="AGENT"):
        engine.handle(SpeechIntent("front desk"))


def test_given_not_started_when_digit_then_illegal_event_names_idle(make_engine: MakeEngine) -> None:
    with pytest.raises(IllegalEvent, match="IDLE"):
        make_engine().handle(Digit("1"))


def test_given_done_when_digit_then_illegal_but_late_hangup_is_fine(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start()
    engine.handle(Digit("2"))
    with pytest.raises(IllegalEvent, match="DONE"):
        engine.handle(Digit("1"))
    assert engine.handle(CallerHangup()) == []
    assert engine.outcome is not None and engine.outcome.kind == "transfer"


def test_given_timer_cancelled_by_key_when_its_timeout_arrives_late_then_ignored(make_engine: MakeEngine) -> None:
    engine = make_engine()
    t = in_waiting(engine)
    actions = engine.handle(Digit("8"))
    assert CancelTimer(t.timer_id) in actions
    assert engine.handle(Timeout(t.timer_id)) == []
    with pytest.raises(IllegalEvent, match="PROMPTING"):
        engine.handle(Timeout(999))


def test_given_waiting_when_caller_hangs_up_then_timer_cancelled_and_outcome_caller_hangup(
    make_engine: MakeEngine,
) -> None:
    engine = make_engine()
    t = in_waiting(engine)
    assert engine.handle(CallerHangup()) == [CancelTimer(t.timer_id)]
    assert engine.outcome is not None and engine.outcome.kind == "caller_hangup"


def test_given_transition_table_then_every_state_accepts_hangup() -> None:
    for state in State:
        assert (state, CallerHangup) in TRANSITIONS, state
