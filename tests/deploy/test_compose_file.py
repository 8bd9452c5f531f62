"""docker-compose.yml can't be run here, so it is checked as data: every service, port, volume,
environment reference and build context must be consistent with each other and with the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ari_app.asterisk_conf import check, render
from ari_app.asterisk_conf.render import CONF_FILES
from ari_app.settings import ENV_PREFIX, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
PORT = re.compile(
    r"^(?:(?P<ip>[0-9.]+):)?(?P<host>\d+(?:-\d+)?):(?P<container>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _interpolate(text: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        value = env.get(m.group("name"), "")
        return value if value else (m.group("arg") if m.group("op") in (":-", "-") else value)

    return VAR.sub(sub, text)


def _walk_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _walk_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _walk_strings(v)]
    return []


def _port_range(spec: str) -> tuple[int, int]:
    lo, _, hi = spec.partition("-")
    return int(lo), int(hi or lo)


def test_given_compose_file_when_parsed_then_the_three_services_have_healthchecks_and_restart_policies(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]

    assert set(services) == {"asterisk", "hotel-operator", "postgres"}
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
        assert svc.get("restart") == "unless-stopped", name
    assert services["asterisk"]["image"].startswith("andrius/asterisk:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_given_dependencies_when_checked_then_they_name_services_that_have_healthchecks(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy"
            assert "healthcheck" in services[dep]


def test_given_volumes_when_checked_then_named_ones_are_declared_and_asterisk_mounts_every_rendered_file(
    compose: dict[str, Any],
) -> None:
    declared = set(compose["volumes"])
    used_named = set()
    asterisk_mounts = {}
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source, target, *mode = vol.split(":")
            if source.startswith((".", "/")):
                assert name == "asterisk" and mode == ["ro"], vol
                asterisk_mounts[Path(target).name] = Path(source).name
            else:
                used_named.add(source)
    assert used_named == declared
    assert asterisk_mounts == {f: f for f in CONF_FILES}


def test_given_ports_when_checked_then_syntax_is_valid_and_rtp_range_matches_the_rendered_rtp_conf(
    compose: dict[str, Any],
) -> None:
    env: dict[str, str] = {}
    mapped: dict[str, list[tuple[tuple[int, int], str]]] = {}
    for name, svc in compose["services"].items():
        for spec in svc.get("ports", []):
            m = PORT.match(_interpolate(spec, env))
            assert m, f"{name}: bad port {spec}"
            assert _port_range(m.group("host")) == _port_range(m.group("container"))
            mapped.setdefault(name, []).append((_port_range(m.group("container")), m.group("proto") or "tcp"))
    op_env = compose["services"]["hotel-operator"]["environment"]
    rtp = (
        int(_interpolate(op_env["HOTEL_OPERATOR_DEPLOY__RTP_START"], env)),
        int(_interpolate(op_env["HOTEL_OPERATOR_DEPLOY__RTP_END"], env)),
    )
    assert (rtp, "udp") in mapped["asterisk"]
    assert ((5060, 5060), "udp") in mapped["asterisk"]
    # The service's HTTP port is published on loopback only.
    assert compose["services"]["hotel-operator"]["ports"] == ["127.0.0.1:8080:8080/tcp"]


def test_given_service_environment_when_loaded_then_every_key_is_a_real_setting_and_addresses_agree(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    raw = services["hotel-operator"]["environment"]
    env = {k: _interpolate(str(v), {"POSTGRES_PASSWORD": "pg-Secret-123456"}) for k, v in raw.items()}
    secrets = {
        "HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD": "Ari-Secret-123456",
        "HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD": "Ami-Secret-123456",
        "HOTEL_OPERATOR_PHONES__PASSWORD": "Phone-Secret-123456",
    }
    env.update(secrets)

    settings = load_settings(env=env)

    for key in raw:
        assert key.startswith(ENV_PREFIX)
        model: type[BaseModel] = Settings
        for part in key[len(ENV_PREFIX) :].lower().split("__"):
            if part == "config":
                break
            assert part in model.model_fields, key
            ann = model.model_fields[part].annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else model
    ips = {n: s["networks"]["voice"]["ipv4_address"] for n, s in services.items()}
    assert settings.asterisk.ari_url == f"http://{ips['asterisk']}:8088"
    assert settings.deploy.http_bind == ips["asterisk"] == settings.asterisk.ami_host
    assert settings.deploy.service_host == ips["hotel-operator"] == settings.media.advertise_host
    assert settings.database.url.endswith("@postgres:5432/hotel")
    assert settings.database.url.startswith("postgresql+asyncpg://hotel:")
    subnet = compose["networks"]["voice"]["ipam"]["config"][0]["subnet"]
    assert settings.deploy.service_network == subnet

    # What the compose file documents as step 2 (render inside the service's environment) checks clean.
    out = tmp_path / "asterisk-rendered"
    render(settings, out)
    assert check(out, settings) == []


def test_given_variable_references_when_checked_then_required_secrets_fail_loudly_and_all_are_documented(
    compose: dict[str, Any],
) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    refs = {m.group("name"): m.group("op") for m in VAR.finditer(text)}
    docs = (REPO / "docs" / "deploy.md").read_text()

    for secret in ("POSTGRES_PASSWORD", "HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD", "HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD"):
        assert refs[secret] == ":?", f"{secret} must be required, not defaulted"
    assert all(op in (":?", ":-") for op in refs.values())
    undocumented = sorted(name for name in refs if f"`{name}`" not in docs)
    assert undocumented == []
    for secret_like in _walk_strings(compose):
        assert not re.search(r"(?i)(password|secret)\s*[:=]\s*[A-Za-z0-9]", secret_like), secret_like


def test_given_build_section_when_checked_then_dockerfile_exists_is_slim_and_runs_as_non_root(
    compose: dict[str, Any],
) -> None:
    build = compose["services"]["hotel-operator"]["build"]
    context = REPO / build["context"]
    dockerfile = context / build["dockerfile"]

    assert dockerfile.is_file()
    lines = [
        ln.strip() for ln in dockerfile.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    froms = [ln.split()[1] for ln in lines if ln.startswith("FROM ")]
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert froms and all(f.startswith("python:3.11-slim") for f in froms)
    assert users and users[-1] not in ("root", "0")
    assert any(ln.startswith("RUN pip install") and ln.endswith(" .") for ln in lines)
    for copied in (ln.split()[1] for ln in lines if ln.startswith("COPY ")):
        if "*" not in copied:
            assert (context / copied).exists(), copied
    ignored = (context / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored
