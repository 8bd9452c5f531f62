"""Kept for imports written before the HTTP side became the package :mod:`ari_app.http`."""

from __future__ import annotations

from ari_app.http import CTX, ApiContext, DialResult, LiveCall, build_app, make_runner
from ari_app.http.context import HealthPart

__all__ = ["CTX", "ApiContext", "DialResult", "HealthPart", "LiveCall", "build_app", "make_runner"]
