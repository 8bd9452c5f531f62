"""deploy/alerts.yml: each rule, evaluated against the service's real /metrics, fires when it should
and stays quiet when it shouldn't; `promtool check rules` where promtool is installed."""

from __future__ import annotations

import shutil
import subprocess
from collections import namedtuple
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from promql import PromQLError, Scrape, evaluate, firing
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ari_app.http_api import ApiContext, build_app
from ari_app.metrics import Metrics, ServerView

RULES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "alerts.yml"
DiskUsage = namedtuple("DiskUsage", "total used free")


def rules() -> dict[str, str]:
    data = yaml.safe_load(RULES_FILE.read_text())
    return {r["alert"]: r["expr"] for g in data["groups"] for r in g["rules"]}


class Stand:
    """The service's metrics behind its real HTTP app, with the live views under the test's control."""

    def __init__(self, metrics: Metrics, url: str) -> None:
        self.metrics = metrics
        self.url = url
        self.servers = [ServerView("pbx1", True, 0, 0, 0)]
        self.ami: dict[str, Any] | None = {"logged_in": True, "active_channels": 0, "registrations": {}}
        self.disk = DiskUsage(total=1000, used=100, free=900)

    async def scrape(self, at_s: float) -> Scrape:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as reply:
            assert reply.status == 200
            return Scrape.parse(await reply.text(), at_s)


@pytest.fixture
async def stand(sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[Stand]:
    metrics = Metrics()
    runner = web.AppRunner(build_app(ApiContext(sessions=sqlite_sessions, metrics=metrics, tokens=[])))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    s = Stand(metrics, f"http://127.0.0.1:{port}")
    metrics.watch(lambda: s.servers, lambda: s.ami)
    metrics.watch_storage(str(tmp_path / "recordings"), usage=lambda _path: s.disk)
    try:
        yield s
    finally:
        await runner.cleanup()


def test_given_the_rules_file_when_read_then_it_has_every_alert_the_design_asks_for() -> None:
    assert set(rules()) >= {
        "HotelCallFailureRateHigh",
        "HotelTurnLatencyHigh",
        "HotelAriDisconnected",
        "HotelTrunkUnregistered",
        "HotelRecordingStorageNearlyFull",
    }


async def test_given_a_healthy_service_when_every_rule_is_evaluated_then_none_fires(stand: Stand) -> None:
    before = await stand.scrape(0)
    for _ in range(20):
        stand.metrics.call_ended("completed")
        stand.metrics.turn_latency_ms.observe(650)
    stand.ami = {**(stand.ami or {}), "registrations": {"trunk-reg": "Registered"}}
    now = await stand.scrape(60)
    for name, expr in rules().items():
        assert firing(expr, now, before) == [], name


async def test_given_one_call_in_ten_failing_when_evaluated_then_the_failure_rate_alert_fires(stand: Stand) -> None:
    expr = rules()["HotelCallFailureRateHigh"]
    for _ in range(5):
        stand.metrics.call_ended("completed")
    before = await stand.scrape(0)
    for _ in range(18):
        stand.metrics.call_ended("completed")
    stand.metrics.call_ended("failed")
    stand.metrics.call_ended("failed")
    now = await stand.scrape(300)
    share = evaluate(expr.split(">")[0], now, before)
    assert isinstance(share, dict) and share[frozenset()] == pytest.approx(0.1)
    assert firing(expr, now, before) == [{}]
    # 1 failure in 30 is 3.3 %: quiet
    for _ in range(10):
        stand.metrics.call_ended("completed")
    later = await stand.scrape(600)
    assert firing(expr, later, now) == []


async def test_given_slow_replies_when_evaluated_then_the_latency_alert_fires_and_fast_ones_do_not(
    stand: Stand,
) -> None:
    expr = rules()["HotelTurnLatencyHigh"]
    before = await stand.scrape(0)
    for i in range(100):
        stand.metrics.turn_latency_ms.observe(800 if i < 90 else 2600)  # p95 falls in the 2-3 s bucket
    now = await stand.scrape(120)
    p95 = evaluate(expr.split(") >")[0] + ")", now, before)
    assert isinstance(p95, dict) and 2000 < p95[frozenset()] <= 3000
    assert firing(expr, now, before) == [{}]
    for _ in range(400):
        stand.metrics.turn_latency_ms.observe(700)
    later = await stand.scrape(240)
    assert firing(expr, later, now) == []


async def test_given_the_ari_socket_down_when_evaluated_then_the_ari_alert_names_the_server(stand: Stand) -> None:
    stand.servers = [ServerView("pbx1", True, 2, 5, 0), ServerView("pbx2", False, 0, 0, 1)]
    assert firing(rules()["HotelAriDisconnected"], await stand.scrape(0)) == [{"server": "pbx2"}]


async def test_given_a_rejected_registration_from_ami_when_evaluated_then_the_trunk_alert_fires(
    stand: Stand,
) -> None:
    expr = rules()["HotelTrunkUnregistered"]
    stand.ami = {"logged_in": True, "active_channels": 0, "registrations": {"trunk-reg": "Rejected", "b": "Registered"}}
    assert firing(expr, await stand.scrape(0)) == [{"registration": "trunk-reg"}]
    # AMI not logged in: nothing is claimed about trunks, the AMI alert speaks instead
    stand.ami = {"logged_in": False, "active_channels": 0}
    quiet = await stand.scrape(30)
    assert firing(expr, quiet) == []
    assert firing(rules()["HotelAmiDisconnected"], quiet) == [{}]


async def test_given_a_nearly_full_recordings_disk_when_evaluated_then_the_storage_alert_fires(
    stand: Stand,
) -> None:
    expr = rules()["HotelRecordingStorageNearlyFull"]
    stand.disk = DiskUsage(total=1000, used=950, free=50)
    assert firing(expr, await stand.scrape(0)) == [{}]
    stand.disk = DiskUsage(total=1000, used=850, free=150)
    assert firing(expr, await stand.scrape(0)) == []


async def test_given_the_real_disk_when_scraped_then_the_storage_metrics_describe_it(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    metrics = Metrics()
    metrics.watch_storage(str(tmp_path / "not-yet" / "recordings"))
    scrape = Scrape.parse(metrics.render().decode(), 0)
    real = shutil.disk_usage(tmp_path)
    assert scrape.samples["hotel_recording_storage_size_bytes"] == {frozenset(): float(real.total)}
    assert 0 < scrape.samples["hotel_recording_storage_free_bytes"][frozenset()] <= real.total


def test_given_an_expression_outside_the_subset_when_evaluated_then_it_is_refused() -> None:
    empty = Scrape(0, {})
    for bad in ("absent(up)", "up offset 5m", "rate(up)"):
        with pytest.raises(PromQLError):
            evaluate(bad, empty, empty)


def test_given_promtool_when_installed_then_it_accepts_the_rules_file() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus); the PromQL subset test above still runs")
    out = subprocess.run([promtool, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr





# A bad half hour, minute by minute: 10 % of calls failing, p95 in the 2-3 s bucket, pbx2's ARI
# down, the trunk registration down, 5 % free on the recordings' disk; AMI itself is up.
PROMTOOL_SERIES = {
    'hotel_calls_ended_total{status="completed"}': "0+9x40",
    'hotel_calls_ended_total{status="failed"}': "0+1x40",
    'hotel_turn_latency_ms_bucket{le="2000"}': "0+90x40",
    'hotel_turn_latency_ms_bucket{le="3000"}': "0+100x40",
    'hotel_turn_latency_ms_bucket{le="+Inf"}': "0+100x40",
    'hotel_ari_connected{server="pbx1"}': "1x40",
    'hotel_ari_connected{server="pbx2"}': "0x40",
    'hotel_trunk_registration_up{registration="trunk-reg"}': "0x40",
    "hotel_recording_storage_free_bytes": "50x40",
    "hotel_recording_storage_size_bytes": "1000x40",
    "hotel_ami_connected": "1x40",
}
PROMTOOL_EXPECTED: dict[str, list[dict[str, str]]] = {
    "HotelCallFailureRateHigh": [{}],
    "HotelTurnLatencyHigh": [{}],
    "HotelAriDisconnected": [{"server": "pbx2"}],
    "HotelTrunkUnregistered": [{"registration": "trunk-reg"}],
    "HotelRecordingStorageNearlyFull": [{}],
    "HotelAmiDisconnected": [],
}


def _expected_alerts(rule: dict[str, Any], labels_list: list[dict[str, str]]) -> list[dict[str, Any]]:
    out = []
    for labels in labels_list:
        annotations = {}
        for key, text in (rule.get("annotations") or {}).items():
            for name, value in labels.items():
                text = text.replace("{{ $labels." + name + " }}", value)
            annotations[key] = text
        out.append({"exp_labels": {**rule.get("labels", {}), **labels}, "exp_annotations": annotations})
    return out


def test_given_promtool_when_it_replays_a_bad_half_hour_then_every_rule_fires_as_prometheus_would(
    tmp_path: Path,
) -> None:
    """The same verdicts from Prometheus's own engine, for the semantics the small evaluator
    simplifies (rate extrapolation, `for:` durations, label templates in annotations)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    data = yaml.safe_load(RULES_FILE.read_text())
    by_name = {r["alert"]: r for g in data["groups"] for r in g["rules"]}
    assert set(PROMTOOL_EXPECTED) == set(by_name)
    spec = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in PROMTOOL_SERIES.items()],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": name, "exp_alerts": _expected_alerts(by_name[name], labels)}
                    for name, labels in PROMTOOL_EXPECTED.items()
                ],
            }
        ],
    }
    file = tmp_path / "alerts_test.yml"
    file.write_text(yaml.safe_dump(spec))
    out = subprocess.run([promtool, "test", "rules", str(file)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
