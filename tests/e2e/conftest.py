"""Fixtures for the end-to-end tests (the stack itself is in e2e_support.py, importable by tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_support import menu_file  # noqa: E402

__all__ = ["menu_file"]
