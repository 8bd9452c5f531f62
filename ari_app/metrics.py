"""Process-wide metrics in Prometheus form, scraped from ``/metrics``.

One registry per process (not the library's global one) so tests can build several services side by
side and each sees only its own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_MS = (100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.calls_active = Gauge("hotel_calls_active", "Calls in progress", ["server"], registry=r)
        self.calls_total = Counter("hotel_calls_total", "Calls ended, by final status", ["server", "status"], registry=r)
        self.turn_latency_ms = Histogram(
            "hotel_turn_latency_ms",
            "Caller end of speech to first agent audio",
            buckets=LATENCY_BUCKETS_MS,
            registry=r,
        )
        self.tool_runs = Counter("hotel_tool_runs_total", "Tool runs", ["tool", "ok"], registry=r)
        self.dtmf_digits = Counter("hotel_dtmf_digits_total", "Keypad digits received", registry=r)
        self.ari_reconnects = Counter("hotel_ari_reconnects_total", "ARI WebSocket reconnects", ["server"], registry=r)
        self.errors = Counter("hotel_errors_total", "Errors by component", ["component"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
