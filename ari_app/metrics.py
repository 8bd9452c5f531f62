"""Process-wide metrics in Prometheus form, scraped from ``/metrics``.

One registry per process (not the library's global one) so tests can build several services side by
side and each sees only its own numbers. Values that already live somewhere (live calls in the call
managers, the AMI monitor's view of Asterisk) are read at scrape time by a collector instead of being
copied into gauges that could drift.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ari_app.ami.states import contact_up, endpoint_up

FINAL_STATUSES = ("completed", "transferred", "failed", "abandoned")  # models.calls.CallStatus, less active
LATENCY_BUCKETS_MS = (100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000)


@dataclass(frozen=True)
class ServerView:
    """What one Asterisk's call manager reports at scrape time."""

    name: str
    connected: bool
    live_calls: int
    calls_started: int
    reconciles: int


class _LiveCollector(Collector):
    def __init__(self, servers: Callable[[], Iterable[ServerView]], ami: Callable[[], dict[str, Any] | None]) -> None:
        self.servers = servers
        self.ami = ami

    def collect(self) -> Iterable[Metric]:
        active = GaugeMetricFamily("hotel_calls_active", "Calls in progress", labels=["server"])
        connected = GaugeMetricFamily("hotel_ari_connected", "ARI events WebSocket up (1) or not (0)", labels=["server"])
        started = CounterMetricFamily("hotel_calls_started", "Calls answered since start", labels=["server"])
        reconciles = CounterMetricFamily("hotel_ari_reconciles", "Reconciles after ARI reconnects", labels=["server"])
        for s in self.servers():
            active.add_metric([s.name], s.live_calls)
            connected.add_metric([s.name], 1 if s.connected else 0)
            started.add_metric([s.name], s.calls_started)
            reconciles.add_metric([s.name], s.reconciles)
        yield from (active, connected, started, reconciles)
        ami = self.ami()
        if ami is not None:
            yield GaugeMetricFamily("hotel_ami_connected", "AMI logged in (1) or not (0)", value=1 if ami.get("logged_in") else 0)
            yield GaugeMetricFamily(
                "hotel_asterisk_channels", "Active channels on Asterisk (AMI)", value=ami.get("active_channels", 0)
            )
            yield from _ami_view_metrics(ami)


def _ami_view_metrics(ami: dict[str, Any]) -> Iterable[Metric]:
    """Trunks, endpoints and contacts as AMI reports them; nothing is claimed that AMI has not said.

    ``hotel_trunks_registered`` appears only once AMI has listed at least one outbound registration:
    an IP-authenticated trunk has none, and "registered" from no knowledge would hide an outage.
    """
    trunks = ami.get("trunks_registered")
    if trunks is not None:
        yield GaugeMetricFamily(
            "hotel_trunks_registered", "All trunk registrations up (1) or not (0); absent while unknown",
            value=1 if trunks else 0,
        )
    regs = GaugeMetricFamily(
        "hotel_trunk_registration_up", "Outbound registration registered (1) or not (0)", labels=["registration"]
    )
    for name, status in sorted((ami.get("registrations") or {}).items()):
        regs.add_metric([str(name)], 1 if str(status).lower() == "registered" else 0)
    yield regs
    endpoints = GaugeMetricFamily(
        "hotel_pjsip_endpoint_up", "PJSIP endpoint available (1) or unavailable (0), from AMI", labels=["endpoint"]
    )
    for name, state in sorted((ami.get("endpoints") or {}).items()):
        endpoints.add_metric([str(name)], 1 if endpoint_up(str(state)) else 0)
    yield endpoints
    contacts = GaugeMetricFamily(
        "hotel_pjsip_contact_up", "PJSIP contact reachable (1) or not (0), from AMI", labels=["contact", "endpoint"]
    )
    owners = ami.get("contact_endpoints") or {}
    for uri, status in sorted((ami.get("contacts") or {}).items()):
        contacts.add_metric([str(uri), str(owners.get(uri, ""))], 1 if contact_up(str(status)) else 0)
    yield contacts


class _StorageCollector(Collector):
    """Size and free space of the file system holding the recordings, read at scrape time (so the
    `recording storage nearly full` alert sees the disk as it is, not as it was at start)."""

    def __init__(self, directory: str, usage: Callable[[str], Any] = shutil.disk_usage) -> None:
        self.directory = directory
        self.usage = usage

    def collect(self) -> Iterable[Metric]:
        path = Path(self.directory).absolute()
        while not path.exists() and path != path.parent:
            path = path.parent  # not created yet: the disk it will be created on
        try:
            du = self.usage(str(path))
        except OSError:
            return
        yield GaugeMetricFamily("hotel_recording_storage_size_bytes", "Size of the recordings' file system", value=du.total)
        yield GaugeMetricFamily("hotel_recording_storage_free_bytes", "Free space on the recordings' file system", value=du.free)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.turn_latency_ms = Histogram(
            "hotel_turn_latency_ms",
            "Caller end of speech to first agent audio",
            buckets=LATENCY_BUCKETS_MS,
            registry=r,
        )
        self.tool_runs = Counter("hotel_tool_runs_total", "Tool runs by the spoken agent", ["tool", "ok"], registry=r)
        self.speech_errors = Counter("hotel_speech_errors_total", "Speech engine failures mid-call", registry=r)
        self.calls_ended = Counter("hotel_calls_ended_total", "Calls ended, by final status", ["status"], registry=r)
        for status in FINAL_STATUSES:  # present from the start: a rate needs the series before the first failure
            self.calls_ended.labels(status=status)

    def call_ended(self, status: str) -> None:
        self.calls_ended.labels(status=status).inc()

    def watch_storage(self, directory: str, usage: Callable[[str], Any] = shutil.disk_usage) -> None:
        """Report the recordings' disk on every scrape (``usage``: a stand-in disk for tests)."""
        self.registry.register(_StorageCollector(directory, usage))

    def watch(self, servers: Callable[[], Iterable[ServerView]], ami: Callable[[], dict[str, Any] | None]) -> None:
        """Report live call-manager and AMI state on every scrape."""
        self.registry.register(_LiveCollector(servers, ami))

    def render(self) -> bytes:
        return generate_latest(self.registry)
