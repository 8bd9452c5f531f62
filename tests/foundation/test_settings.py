"""Settings: defaults < file < environment, and one clear line for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_app.settings import ConfigError, load_settings, mask_url, masked_dump


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotel-operator.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_given_nothing_when_loaded_then_defaults_apply() -> None:
    s = load_settings(None, env={})
    assert s.media.port_min == 40000
    assert s.database.url == "sqlite+aiosqlite:///hotel-operator.db"
    assert s.brain.mode == "embedded"
    assert s.asterisk.app_name == "hotel-operator"


def test_given_file_and_env_when_loaded_then_env_beats_file_beats_default(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[media]\nport_min = 41000\nport_max = 41999\n[hotel]\nname = "Seaside Inn"\n')
    s = load_settings(cfg, env={"HOTEL_OPERATOR_MEDIA__PORT_MIN": "41500"})
    assert s.media.port_min == 41500  # env
    assert s.media.port_max == 41999  # file
    assert s.hotel.name == "Seaside Inn"  # file
    assert s.media.codec == "ulaw"  # default


def test_given_config_path_in_env_when_loaded_then_that_file_is_used(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[hotel]\nname = "From Env Path"\n')
    s = load_settings(None, env={"HOTEL_OPERATOR_CONFIG": str(cfg)})
    assert s.hotel.name == "From Env Path"


def test_given_wrong_type_in_file_when_loaded_then_one_line_names_setting_value_and_rule(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[media]\nport_min = "lots"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    line = str(err.value)
    assert "\n" not in line
    assert "media.port_min" in line and "'lots'" in line and "integer" in line
    assert str(cfg) in line


def test_given_unknown_key_in_file_when_loaded_then_error_names_it(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[media]\nport_minimum = 1\n")
    with pytest.raises(ConfigError, match=r"media\.port_minimum.*unknown setting"):
        load_settings(cfg, env={})


def test_given_unknown_env_key_when_loaded_then_error_names_variable() -> None:
    with pytest.raises(ConfigError, match="HOTEL_OPERATOR_MEDIA__PORTMIN names no setting"):
        load_settings(None, env={"HOTEL_OPERATOR_MEDIA__PORTMIN": "1"})


def test_given_bad_env_value_when_loaded_then_error_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment HOTEL_OPERATOR_BRAIN__MODE: setting brain.mode"):
        load_settings(None, env={"HOTEL_OPERATOR_BRAIN__MODE": "psychic"})


def test_given_range_inverted_when_loaded_then_rule_is_explained(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[media]\nport_min = 50000\nport_max = 40000\n")
    with pytest.raises(ConfigError, match="port_max .* must be >= port_min"):
        load_settings(cfg, env={})


def test_given_bad_timezone_when_loaded_then_rule_is_explained() -> None:
    with pytest.raises(ConfigError, match="IANA time zone"):
        load_settings(None, env={"HOTEL_OPERATOR_HOTEL__TIMEZONE": "Mars/Olympus"})


def test_given_invalid_toml_when_loaded_then_clear_error(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[media\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(cfg, env={})


def test_given_missing_file_when_loaded_then_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_given_secrets_when_dumped_then_they_are_masked(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[asterisk]\nari_password = "hunter2"\n[brain]\nopenai_api_key = "sk-live-123"\n')
    s = load_settings(cfg, env={"HOTEL_OPERATOR_HOTEL__PAYMENT_LINK_SECRET": "pay-secret"})
    assert s.asterisk.ari_password.get_secret_value() == "hunter2"
    dumped = str(masked_dump(s))
    for secret in ("hunter2", "sk-live-123", "pay-secret"):
        assert secret not in dumped
    assert "**********" in dumped


def test_given_postgres_url_without_driver_when_loaded_then_async_driver_is_used() -> None:
    s = load_settings(None, env={"HOTEL_OPERATOR_DATABASE__URL": "postgresql://u@db/hotel"})
    assert s.database.url == "postgresql+asyncpg://u@db/hotel"


def test_given_two_asterisk_servers_when_loaded_then_both_are_listed(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        '[asterisk]\nname = "a"\n[[asterisk.additional_servers]]\nname = "b"\nari_url = "http://10.0.0.2:8088"\n',
    )
    s = load_settings(cfg, env={})
    assert [x.name for x in s.asterisk.servers()] == ["a", "b"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://hotel:S3cretPW@127.0.0.1:5999/hotel",
        "postgresql://hotel:S3cretPW@db.lan/hotel",
    ],
)
def test_given_a_password_inside_the_database_url_when_dumped_then_it_is_masked(url: str) -> None:
    s = load_settings(None, env={"HOTEL_OPERATOR_DATABASE__URL": url})
    dumped = masked_dump(s)
    assert "S3cretPW" not in str(dumped)
    assert dumped["database"]["url"].startswith("postgresql+asyncpg://hotel:***@")


def test_given_a_user_and_password_in_the_ari_url_when_dumped_then_only_the_password_is_masked() -> None:
    s = load_settings(None, env={"HOTEL_OPERATOR_ASTERISK__ARI_URL": "https://hotel:ar1-Pw@pbx.lan:8089"})
    dumped = masked_dump(s)
    assert dumped["asterisk"]["ari_url"] == "https://hotel:***@pbx.lan:8089"
    assert mask_url("see http://u@h/x and ws://a:b@c") == "see http://u@h/x and ws://a:***@c"
