"""`conf render` names every missing or weak secret in one run, with the variable that sets it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ari_app.asterisk_conf.cli import conf_app
from ari_app.settings import Settings


def test_given_no_secrets_at_all_when_rendering_then_all_three_are_named_at_once(tmp_path: Path) -> None:
    settings = Settings.model_validate({})
    out = tmp_path / "conf"
    result = CliRunner().invoke(conf_app, ["render", "--out", str(out)], obj={"settings": settings})
    assert result.exit_code == 2, result.output
    for label, var in (
        ("asterisk.ari_password is empty", "HOTEL_OPERATOR_ASTERISK__ARI_PASSWORD"),
        ("asterisk.ami_password is empty", "HOTEL_OPERATOR_ASTERISK__AMI_PASSWORD"),
        ("phones.password is empty", "HOTEL_OPERATOR_PHONES__PASSWORD"),
    ):
        assert f"{label} ({var})" in result.output
    assert "3 secrets must be fixed" in result.output
    assert not out.exists()


def test_given_a_weak_trunk_password_and_a_default_ari_one_when_rendering_then_both_are_named(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {
            "asterisk": {"ari_password": "hotel-secret", "ami_password": "Ami-Strong-Pass-1"},
            "phones": {"password": "Phone-Strong-Seed-1"},
            "trunk": {"type": "generic", "host": "sip.example", "dids": ["4930123"], "username": "h", "password": "short"},
        }
    )
    result = CliRunner().invoke(conf_app, ["render", "--out", str(tmp_path / "c")], obj={"settings": settings})
    assert result.exit_code == 2
    assert "asterisk.ari_password is a well-known default password" in result.output
    assert "trunk.password is shorter than 12 characters (HOTEL_OPERATOR_TRUNK__PASSWORD)" in result.output
    assert "hotel-secret" not in result.output.replace("is a well-known", "")
