"""Fixtures of the recording tests (helpers in recording_support.py, the live stack in ../e2e)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import menu_file  # noqa: E402
from recording_support import line  # noqa: E402

__all__ = ["line", "menu_file"]
