"""``serve`` says where it is once everything is up (issue 17 F5)."""

from __future__ import annotations

from ari_app.service import ready_line
from ari_app.settings import Settings


def test_given_default_settings_when_ready_then_the_line_names_dashboard_health_fastagi_and_ari() -> None:
    line = ready_line(Settings(), 8080, 4573)
    assert line.startswith("ready: dashboard http://127.0.0.1:8080/dashboard")
    assert "health http://127.0.0.1:8080/health" in line
    assert "FastAGI agi://" in line and ":4573/ivr" in line
    assert "ARI app 'hotel-operator' on http://127.0.0.1:8088" in line


def test_given_wildcard_binds_when_ready_then_the_line_says_this_host_not_0_0_0_0() -> None:
    settings = Settings.model_validate({"http": {"host": "0.0.0.0"}, "asterisk": {"agi_host": "0.0.0.0"}})
    line = ready_line(settings, 18080, 14573)
    assert "http://<this host>:18080/dashboard" in line and "agi://<this host>:14573/ivr" in line
    assert "0.0.0.0" not in line
