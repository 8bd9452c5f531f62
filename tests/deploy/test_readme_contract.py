"""The README's two commands are the contract: CI runs exactly the test one."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [c.strip() for c in re.findall(r"```sh\n(python3 -m venv[^\n]*)\n```", text)]


def test_given_the_readme_when_read_then_it_has_the_demo_and_the_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith(".venv/bin/hotel-operator demo")
    assert commands[1].endswith(".venv/bin/python -m pytest")


def test_given_ci_when_its_script_is_read_then_it_runs_exactly_the_readme_test_command() -> None:
    script = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.startswith("python3 ")]
    assert script == [_readme_commands()[1]]
