"""Fixtures for the IVR tests: a small hotel menu written the way IT staff write it, and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from ari_app.ivr import IvrEngine, MenuTree, parse_menu_data

DEPARTMENTS = {"front desk": "100", "reservations": "101", "housekeeping": "102", "manager": "103"}

MENU_YAML = """
version: 1
timezone: Europe/Paris
entry: {day: main, night: night, holiday: holiday}
business_hours:
  - {days: [mon, tue, wed, thu, fri], open: "08:00", close: "20:00"}
  - {days: [sat], open: "22:00", close: "02:00"}
holidays: ["2026-12-24", "01-01"]
operator: {action: transfer, department: front desk}
defaults:
  timeout: {seconds: 10, attempts: 3, prompt: {text: "No input."}, destination: {action: operator}}
  invalid: {attempts: 3, prompt: {text: "Invalid."}, destination: {action: hangup, prompt: {text: "Goodbye."}}}
menus:
  main:
    prompt: {text: "Main menu.", sound: main-menu}
    direct_dial: {first_digits: "4567", min_digits: 3, max_digits: 4, interdigit_timeout_s: 3, pattern: "[4-7][0-9]{2,3}"}
    options:
      - {digit: 1, action: menu, menu: reservations, synonyms: [reservations, booking]}
      - {digit: 2, action: transfer, department: front desk, synonyms: [front desk, reception]}
      - {digit: 3, action: info, prompt: {text: "Breakfast is at seven."}, synonyms: [breakfast]}
      - {digit: 5, action: transfer, extension: "555"}
      - {digit: 8, action: repeat, synonyms: [repeat]}
      - {digit: 9, action: agent, synonyms: [assistant]}
  reservations:
    prompt: {text: "Reservations menu."}
    timeout: {seconds: 5, attempts: 2, destination: {action: menu, menu: main}}
    options:
      - {digit: 1, action: agent, synonyms: [new booking]}
      - {digit: 2, action: menu, menu: changes}
      - {digit: 7, action: back}
  changes:
    prompt: {text: "Changes menu."}
    options:
      - {digit: 1, action: transfer, department: reservations}
  night:
    prompt: {text: "Night menu."}
    options:
      - {digit: 1, action: agent}
  holiday:
    prompt: {text: "Holiday menu."}
    options:
      - {digit: 1, action: agent}
"""

# Wednesday 4 March 2026, 12:00 in Paris (11:00 UTC): open.
WEEKDAY_NOON = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def menu_data() -> dict[str, Any]:
    data = yaml.safe_load(MENU_YAML)
    assert isinstance(data, dict)
    return data


def build_tree(data: dict[str, Any]) -> MenuTree:
    return parse_menu_data(data, departments=DEPARTMENTS, front_desk_extension="100", transfer_context="from-internal")


@pytest.fixture
def tree(menu_data: dict[str, Any]) -> MenuTree:
    return build_tree(menu_data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEEKDAY_NOON)


@pytest.fixture
def make_engine(tree: MenuTree, clock: FakeClock) -> Callable[[], IvrEngine]:
    return lambda: IvrEngine(tree, clock=clock)
