"""Settings for the three install shapes the generated Asterisk configuration must cover."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.settings import Settings

ARI_PW = "Ari-Pass-7f3k29xq"
AMI_PW = "Ami-Pass-c81mz0vr"
TRUNK_PW = "Trunk-Pass-q0w9e8r7"
PHONE_SEED = "Phone-Seed-a1s2d3f4"
WEB_PW = "Web-Pass-z9x8c7v6"
SECRETS = (ARI_PW, AMI_PW, TRUNK_PW, PHONE_SEED, WEB_PW)
TLS = {"tls_cert_file": "/etc/asterisk/keys/asterisk.pem", "tls_key_file": "/etc/asterisk/keys/asterisk.key"}


def setup_settings(kind: str, **sections: dict[str, Any]) -> Settings:
    """Settings for ``generic`` (registering trunk), ``twilio`` or ``phones`` (desk phones + WebRTC)."""
    data: dict[str, dict[str, Any]] = {
        "asterisk": {
            "ari_password": ARI_PW,
            "ami_password": AMI_PW,
            "app_name": "hotel-op-test",
            "agi_port": 4600,
        },
        "phones": {"password": PHONE_SEED, "room_count": 3, "room_first": 301},
    }
    if kind == "generic":
        data["trunk"] = {
            "type": "generic",
            "dids": ["4930123456", "4930123457"],
            "host": "sip.provider.example",
            "username": "hotel-main",
            "password": TRUNK_PW,
        }
    elif kind == "twilio":
        data["trunk"] = {
            "type": "twilio",
            "dids": ["+15550104477"],
            "twilio_termination_uri": "harbourview.pstn.twilio.com",
            "username": "harbourview",
            "password": TRUNK_PW,
            "transport": "tls",
            "srtp": True,
        }
        data["deploy"] = {**TLS, "after_hours": "22:30-06:00"}
    elif kind == "phones":
        data["phones"] = {
            "password": PHONE_SEED,
            "room_first": 201,
            "room_count": 60,
            "front_desk_phones": 3,
            "webrtc": True,
            "webrtc_password": WEB_PW,
        }
        data["deploy"] = dict(TLS)
    else:
        raise ValueError(kind)
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Settings.model_validate(data)


@pytest.fixture(params=["generic", "twilio", "phones"])
def setup_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings() -> Any:
    return setup_settings


@pytest.fixture
def secrets() -> tuple[str, ...]:
    return SECRETS
