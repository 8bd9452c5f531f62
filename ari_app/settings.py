"""One typed settings object for the whole service.

Layering is defaults, then the TOML file, then ``HOTEL_OPERATOR_…`` environment variables (nested
sections use ``__``: ``HOTEL_OPERATOR_MEDIA__PORT_MIN=41000``). Each component receives only its own
section, so a change to one section can't silently affect another part. Every bad value is turned
into one :class:`ConfigError` line naming the setting, the value and what is allowed, because the
person reading it is an IT admin at a console, not a Python developer.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "HOTEL_OPERATOR_"
CONFIG_ENV = "HOTEL_OPERATOR_CONFIG"
DEFAULT_CONFIG_FILE = "hotel-operator.toml"


class ConfigError(Exception):
    """A configuration problem the operator must fix; ``str()`` is one line meant for a console."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AsteriskServer(Section):
    """One Asterisk host the service attaches to; calls are tagged with ``name``."""

    name: str = "pbx1"
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "hotel"
    ari_password: SecretStr = SecretStr("")
    app_name: str = Field(default="hotel-operator", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("ari_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class AsteriskSettings(AsteriskServer):
    """The primary Asterisk (flat keys, the common case) plus any further servers."""

    additional_servers: list[AsteriskServer] = Field(default_factory=list)
    ami_enabled: bool = True
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "hotel-monitor"
    ami_password: SecretStr = SecretStr("")
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=1, le=65535)
    reconnect_max_s: float = Field(default=10.0, gt=0, le=300)

    def servers(self) -> list[AsteriskServer]:
        primary = AsteriskServer(
            name=self.name,
            ari_url=self.ari_url,
            ari_user=self.ari_user,
            ari_password=self.ari_password,
            app_name=self.app_name,
        )
        return [primary, *self.additional_servers]

    @model_validator(mode="after")
    def _unique_names(self) -> AsteriskSettings:
        names = [s.name for s in self.servers()]
        if len(names) != len(set(names)):
            raise ValueError(f"server names must be unique, got {names}")
        return self


class MediaSettings(Section):
    rtp_host: str = "127.0.0.1"
    advertise_host: str | None = Field(
        default=None, description="Address Asterisk should send RTP to, when it differs from rtp_host (NAT, 0.0.0.0)."
    )
    port_min: int = Field(default=40000, ge=1024, le=65535)
    port_max: int = Field(default=40999, ge=1024, le=65535)
    codec: Literal["ulaw", "slin16"] = "ulaw"
    jitter_frames: int = Field(default=3, ge=1, le=50)

    @model_validator(mode="after")
    def _range(self) -> MediaSettings:
        if self.port_max < self.port_min:
            raise ValueError(f"port_max ({self.port_max}) must be >= port_min ({self.port_min})")
        return self


class SpeechSettings(Section):
    stt_engine: Literal["whisper", "openai"] = "whisper"
    whisper_model: str | None = Field(default=None, description="Model path or size name; empty = bundled tiny.en.")
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = Field(default=1, ge=1, le=10)
    language: str = "en"
    tts_engine: Literal["piper", "openai"] = "piper"
    piper_model: str | None = Field(default=None, description="Path to a Piper .onnx voice; empty = bundled voice.")
    piper_config: str | None = None
    voices: dict[str, str] = Field(default_factory=dict, description="language -> Piper .onnx path")
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    vad_start_ms: int = Field(default=60, ge=20, le=1000)
    vad_end_ms: int = Field(default=600, ge=100, le=5000)
    max_utterance_s: float = Field(default=20.0, gt=1, le=120)
    barge_in_ms: int = Field(default=200, ge=20, le=2000)
    workers: int = Field(default=2, ge=1, le=32)
    prompt_cache_dir: str = "var/prompt-cache"


class BrainSettings(Section):
    mode: Literal["embedded", "llm", "realtime"] = "embedded"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    realtime_model: str = "gpt-realtime"
    realtime_voice: str = "alloy"
    step_timeout_s: float = Field(default=8.0, gt=0, le=120)
    max_turns: int = Field(default=40, ge=1, le=500)
    max_tokens: int = Field(default=300, ge=16, le=8192)
    max_tool_rounds: int = Field(default=6, ge=1, le=50, description="Model steps (tool round trips) per caller turn.")
    temperature: float = Field(default=0.3, ge=0, le=2)
    fallback_action: Literal["transfer", "menu"] = Field(
        default="transfer", description="What the embedded brain does after three misunderstood turns."
    )


class HotelSettings(Section):
    name: str = "Harbour View Hotel"
    timezone: str = "UTC"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    front_desk_extension: str = Field(default="100", pattern=r"^[0-9*#+]+$")
    departments: dict[str, str] = Field(
        default_factory=lambda: {"front desk": "100", "reservations": "101", "housekeeping": "102", "manager": "103"}
    )
    facts_file: str | None = Field(default=None, description="Hotel facts (TOML); empty = bundled demo facts.")
    cancellation_free_hours: int = Field(default=24, ge=0, le=24 * 60)
    max_guests_per_booking: int = Field(default=8, ge=1, le=100)
    max_nights: int = Field(default=30, ge=1, le=365)
    payment_page_url: str = "https://pay.hotel.invalid/checkout"
    payment_link_secret: SecretStr = SecretStr("")
    payment_link_ttl_minutes: int = Field(default=60 * 24, ge=5, le=60 * 24 * 14)
    booking_horizon_days: int = Field(default=730, ge=1, le=3650, description="How far ahead callers may book.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Europe/Paris") from exc
        return value


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///hotel-operator.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("must be sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db")
        return value


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_tokens: list[SecretStr] = Field(default_factory=list)


class RecordingSettings(Section):
    enabled: bool = False
    directory: str = "var/recordings"
    encryption_key: SecretStr | None = None
    retention_days: int = Field(default=30, ge=1, le=3650)


class IvrSettings(Section):
    menu_file: str | None = Field(default=None, description="IVR menu file (YAML/TOML); empty = bundled menu.")
    start_in_menu: bool = Field(default=False, description="Callers hear the keypad menu first instead of the agent.")


class SmsSettings(Section):
    provider: Literal["log", "twilio"] = "log"
    from_number: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_base_url: str = "https://api.twilio.com"
    max_attempts: int = Field(default=5, ge=1, le=50)


class WorkerSettings(Section):
    instance_name: str = Field(default_factory=lambda: os.uname().nodename)
    poll_interval_s: float = Field(default=2.0, gt=0, le=600)
    batch_size: int = Field(default=20, ge=1, le=1000)
    lock_timeout_s: float = Field(default=300.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    asterisk: AsteriskSettings = Field(default_factory=AsteriskSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    brain: BrainSettings = Field(default_factory=BrainSettings)
    hotel: HotelSettings = Field(default_factory=HotelSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment must beat them.
        return (env_settings, init_settings)


def _describe_allowed(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        return "unknown setting (check the spelling against `hotel-operator config show`)"
    return msg[0].lower() + msg[1:] if msg else "invalid"


def _format_validation(exc: ValidationError, source: str, env: Mapping[str, str]) -> ConfigError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "settings"
    loc = [str(p) for p in err.get("loc", ())]
    for depth in range(len(loc), 0, -1):
        var = ENV_PREFIX + "__".join(loc[:depth]).upper()
        if var in env:
            source = f"environment {var}"
            break
    value = err.get("input")
    shown = "<secret>" if any(w in where for w in ("password", "key", "token", "secret")) else repr(value)
    if isinstance(value, dict):
        shown = "{…}"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return ConfigError(f"{source}: setting {where} = {shown} is not allowed: {_describe_allowed(err)}{more}")


def _check_env_keys(env: Mapping[str, str]) -> None:
    """Reject ``HOTEL_OPERATOR_*`` variables that name no setting: a typo must not be silently ignored."""
    for key in env:
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        model: type[BaseModel] = Settings
        for i, part in enumerate(path):
            field = model.model_fields.get(part)
            if field is None:
                raise ConfigError(f"environment: {key} names no setting (unknown key {'.'.join(path[: i + 1])})")
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model = ann
            else:
                break


def resolve_config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_settings(
    config_path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from defaults < file < environment, or raise one-line :class:`ConfigError`."""
    env = os.environ if env is None else env
    path = resolve_config_path(config_path, env)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
    _check_env_keys(env)
    saved = dict(os.environ)
    try:
        if env is not os.environ:
            # pydantic-settings reads os.environ; present exactly the mapping we were given.
            os.environ.clear()
            os.environ.update(env)
        try:
            return Settings(**data)
        except ValidationError as exc:
            raise _format_validation(exc, source, env) from None
    finally:
        if env is not os.environ:
            os.environ.clear()
            os.environ.update(saved)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced, for `config show` and logs."""
    return settings.model_dump(mode="json")
