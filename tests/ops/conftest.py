"""Ops tests: screening, alert rules, the demo's parts; ``promql`` (the rule evaluator) lives here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # for promql
