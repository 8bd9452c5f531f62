"""Fixtures of the voice API tests: a real aiohttp server on loopback over a real database."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
