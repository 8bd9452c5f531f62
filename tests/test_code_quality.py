"""ruff and mypy over the whole tree, so CI (which runs only pytest) keeps the code clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_given_the_tree_when_ruff_checks_then_no_findings() -> None:
    out = _run(str(BIN / "ruff"), "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


# Each test folder has its own conftest.py, so mypy checks them one folder at a time.
TARGETS = [["ari_app", "agi", "models", "bench"]] + [
    [str(d.relative_to(ROOT))] for d in sorted((ROOT / "tests").iterdir()) if d.is_dir() and any(d.glob("*.py"))
]


@pytest.mark.parametrize("paths", TARGETS, ids=lambda p: ",".join(p))
def test_given_the_code_when_mypy_checks_then_no_errors(paths: list[str]) -> None:
    out = _run(str(BIN / "mypy"), *paths)
    assert out.returncode == 0, out.stdout + out.stderr
