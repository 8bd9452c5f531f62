"""One typed settings object for the whole service.

Layering is defaults, then the TOML file, then ``HOTEL_OPERATOR_…`` environment variables (nested
sections use ``__``: ``HOTEL_OPERATOR_MEDIA__PORT_MIN=41000``). Each component receives only its own
section, so a change to one section can't silently affect another part. Every bad value is turned
into one :class:`ConfigError` line naming the setting, the value and what is allowed, because the
person reading it is an IT admin at a console, not a Python developer.
"""

from __future__ import annotations

import os
import re
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
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# connections kept open per instance: why 32 is in models.db.make_engine; defined here, where it is
# configured, so that reading the settings does not import the database layer
DEFAULT_POOL_SIZE = 32
ENV_PREFIX = "HOTEL_OPERATOR_"
CONFIG_ENV = "HOTEL_OPERATOR_CONFIG"
TEMPLATES_ENV = "HOTEL_OPERATOR_CONF_TEMPLATES"
# The one rule for environment variables: every ``HOTEL_OPERATOR_<SECTION>__<KEY>`` names a setting,
# and these few name files the settings can't hold (where the settings file itself lives, and the
# Asterisk templates `conf render` reads); the strict check below accepts exactly these besides.
PROCESS_ENV = frozenset({CONFIG_ENV, TEMPLATES_ENV})
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
    callback_endpoint: str = Field(
        default="PJSIP/{number}@trunk", description="Dial string for callbacks; {number} is the guest's number."
    )

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
        default=None,
        description="Address Asterisk should send RTP to, when it differs from rtp_host (NAT, 0.0.0.0).",
    )
    port_min: int = Field(default=40000, ge=1024, le=65535)
    port_max: int = Field(default=40999, ge=1024, le=65535)
    codec: Literal["ulaw", "slin16"] = "ulaw"
    jitter_frames: int = Field(default=3, ge=1, le=50)
    rtp_source_check: Literal["address", "host"] = Field(
        default="address",
        description=(
            "Which RTP sources a call accepts: 'address' = only UNICASTRTP_LOCAL_ADDRESS:PORT that Asterisk "
            "reported; 'host' = any port of that host (a NAT that rewrites ports). Others are dropped and counted."
        ),
    )

    @model_validator(mode="after")
    def _range(self) -> MediaSettings:
        if self.port_max < self.port_min:
            raise ValueError(f"port_max ({self.port_max}) must be >= port_min ({self.port_min})")
        return self


class SpeechSettings(Section):
    stt_engine: Literal["whisper", "openai"] = "whisper"
    whisper_model: str | None = Field(
        default=None, description="Model path or size name; empty = bundled tiny.en."
    )
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = Field(
        default=5,
        ge=1,
        le=10,
        description="5: 2.5% vs 3.0% clean WER (beam 1) on phone audio for ~30 ms a turn (bench/README.md).",
    )
    language: str = "en"
    tts_engine: Literal["piper", "openai"] = "piper"
    piper_model: str | None = Field(
        default=None, description="Path to a Piper .onnx voice; empty = bundled voice."
    )
    piper_config: str | None = None
    voices: dict[str, str] = Field(default_factory=dict, description="language -> Piper .onnx path")
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    vad_start_ms: int = Field(default=60, ge=20, le=1000)
    vad_end_ms: int = Field(default=600, ge=100, le=5000)
    max_utterance_s: float = Field(default=20.0, gt=1, le=120)
    barge_in_ms: int = Field(default=200, ge=20, le=2000)
    workers: int = Field(default=2, ge=1, le=32)
    prompt_cache_dir: str = "var/prompt-cache"
    sentence_cache_entries: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="Reply sentences whose audio is kept in memory (never on disk) for the next caller; 0 = off.",
    )
    vad_energy_gate_dbfs: float = Field(
        default=-45.0, ge=-90, le=0, description="Frames quieter than this are never speech."
    )
    vad_pause_ms: int = Field(
        default=140,
        ge=20,
        le=2000,
        description="Silence after which a speculative transcript starts (100 ms fired at every comma; "
        "200 ms made the verdict arrive ~100 ms after the short hangover, bench/latency.py).",
    )
    vad_min_speech_ms: int = Field(
        default=160, ge=20, le=2000, description="Less speech than this in a segment is a click."
    )
    vad_early_end_ms: int = Field(
        default=300,
        ge=0,
        le=5000,
        description="End the turn after this much silence once the speculative transcript is a finished sentence; 0 = always wait vad_end_ms.",
    )
    vad_open_end_ms: int = Field(
        default=1000,
        ge=0,
        le=5000,
        description="Silence that ends a turn whose speculative transcript reads open (\"a room for\", "
        "\"my name is\"): a caller drawing breath mid-sentence is not cut off (speech/turnend.py).",
    )
    whisper_no_speech_threshold: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="With avg logprob < whisper_logprob_threshold: a hallucination. 0.4, not Whisper's 0.6: "
        "with the 10 s window, invented words on noise scored 0.53-0.59, real speech at most 0.07.",
    )
    whisper_logprob_threshold: float = Field(default=-1.0, le=0)
    whisper_cpu_threads: int = Field(
        default=0, ge=0, le=64, description="CTranslate2 threads per worker; 0 = default."
    )
    whisper_window_s: float = Field(
        default=10.0,
        ge=0,
        le=30,
        description="Encoder window for a turn that fits (longer turns grow it); 0 = Whisper's stock 30 s. "
        "10 s: same WER, ~2.5x faster encoding (bench/README.md).",
    )
    stt_vocabulary: list[str] = Field(
        default_factory=list, description="Extra words to bias transcription towards."
    )
    tts_gain: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Peak level of synthesised speech (Piper normalises to full scale).",
    )
    tts_level_dbfs: float | None = Field(
        default=-18.0,
        ge=-40,
        le=-6,
        description="RMS level of synthesised speech on the line (telephony talk level, peaks limited "
        "under -1 dBFS; speech/level.py); empty = scale by tts_gain instead.",
    )
    phrases_dir: str | None = Field(
        default=None, description="Directory of <language>.toml phrase files; empty = bundled."
    )
    echo_guard: bool = True
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_stt_model: str = "gpt-4o-mini-transcribe"
    openai_tts_model: str = "gpt-4o-mini-tts"
    openai_tts_voice: str = "alloy"
    did_languages: dict[str, str] = Field(
        default_factory=dict,
        description="dialled number (DID) -> language of the call; each language needs a voice.",
    )
    detect_language: bool = Field(
        default=True,
        description="With a multilingual Whisper model: pick the call's language from its first caller turn.",
    )
    detect_min_probability: float = Field(
        default=0.7, ge=0, le=1, description="Whisper's language probability needed to switch the call's voice."
    )

    def languages(self) -> list[str]:
        """Languages a call may run in: only those with a voice, so no call ends up speechless."""
        return list(dict.fromkeys([self.language, *self.voices]))

    def call_language(self, called_number: str, channel_language: str = "") -> str:
        """The DID's language, else the channel's own if we can speak it, else the default; a
        channel language we have no voice for (Asterisk defaults channels to "en") must not win."""
        for did in (called_number, called_number.lstrip("+"), f"+{called_number}"):
            if did and did in self.did_languages:
                return self.did_languages[did]
        return channel_language if channel_language in self.languages() else self.language

    @field_validator("did_languages")
    @classmethod
    def _did_languages_have_voices(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # language and voices are declared above, so they are validated (and in info.data) by now
        known = list(dict.fromkeys([info.data.get("language", "en"), *info.data.get("voices", {})]))
        for did, lang in value.items():
            if lang not in known:
                raise ValueError(
                    f"DID {did} maps to {lang!r}, which has no voice "
                    f"(languages with a voice: {', '.join(known)}; add it to speech.voices)"
                )
        return value


class BrainSettings(Section):
    mode: Literal["embedded", "llm", "realtime"] = "embedded"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    realtime_model: str = "gpt-realtime"
    realtime_voice: str = "alloy"
    realtime_websocket_url: str | None = Field(
        default=None,
        description="WebSocket base URL for Realtime when it differs from openai_base_url (ws:// or wss://).",
    )
    step_timeout_s: float = Field(default=8.0, gt=0, le=120)
    max_turns: int = Field(default=40, ge=1, le=500)
    max_tokens: int = Field(default=300, ge=16, le=8192)
    token_limit_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        default="max_tokens",
        description="Request field that carries max_tokens: OpenAI's reasoning models want "
        "max_completion_tokens; many on-prem OpenAI-compatible servers only know max_tokens.",
    )
    max_tool_rounds: int = Field(
        default=6, ge=1, le=50, description="Model steps (tool round trips) per caller turn."
    )
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
        default_factory=lambda: {
            "front desk": "100",
            "reservations": "101",
            "housekeeping": "102",
            "manager": "103",
        }
    )
    facts_file: str | None = Field(
        default=None, description="Hotel facts (TOML); empty = bundled demo facts."
    )
    cancellation_free_hours: int = Field(default=24, ge=0, le=24 * 60)
    max_guests_per_booking: int = Field(default=8, ge=1, le=100)
    max_nights: int = Field(default=30, ge=1, le=365)
    payment_page_url: str = "https://pay.hotel.invalid/checkout"
    payment_link_secret: SecretStr = SecretStr("")
    payment_link_ttl_minutes: int = Field(default=60 * 24, ge=5, le=60 * 24 * 14)
    booking_horizon_days: int = Field(
        default=730, ge=1, le=3650, description="How far ahead callers may book."
    )

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
    auto_migrate: bool = Field(
        default=True, description="Run the schema migrations at start (turn off where a DBA migrates)."
    )
    pool_size: int = Field(
        default=DEFAULT_POOL_SIZE,
        ge=2,
        le=500,
        description=(
            "Database connections the service keeps open (and up to half as many more in a burst). "
            "With several instances on one PostgreSQL keep the sum under its max_connections (100 by default)."
        ),
    )

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
    menu_file: str | None = Field(
        default=None, description="IVR menu file (YAML/TOML); empty = bundled menu."
    )
    start_in_menu: bool = Field(
        default=False, description="Callers hear the keypad menu first instead of the agent."
    )
    transfer_context: str = Field(
        default="hotel-phones",
        description="Dialplan context for transfers and direct dial (the rendered extensions.conf's room/desk context).",
    )
    sounds_dir: str | None = Field(
        default=None, description="Folder of 8 kHz WAV prompts for sound-file prompts under ARI."
    )
    vip_min_stays: int = Field(
        default=3, ge=1, le=1000, description="Reservations on file that make a caller VIP."
    )
    agi_idle_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Silence allowed while Asterisk sends the agi_* block."
    )
    agi_reply_timeout_s: float = Field(
        default=120.0, gt=0, le=86400, description="Longest wait for one AGI reply (Dial/Stasis excepted)."
    )
    agi_max_line: int = Field(default=8192, ge=256, le=1_048_576)
    agi_max_env_lines: int = Field(default=200, ge=22, le=10_000)
    agi_exec_timeout_s: float = Field(
        default=14_400.0, gt=0, le=7 * 86400,
        description="Longest EXEC Dial/Stasis (they last as long as the call they carry); bounds a silent peer.",
    )
    agi_max_connections: int = Field(
        default=200, ge=1, le=100_000, description="FastAGI connections served at once; more are closed at once."
    )
    agi_max_usage_lines: int = Field(default=100, ge=10, le=10_000, description="Lines of one 520 usage block.")
    agi_max_usage_bytes: int = Field(default=16_384, ge=1024, le=1_048_576, description="Bytes of one 520 usage block.")
    ami_ping_interval_s: float = Field(default=20.0, gt=0, le=3600)
    ami_poll_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="CoreShowChannels resync period."
    )


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
    retry_base_s: float = Field(
        default=30.0, ge=0, le=86400, description="First retry delay; doubles per attempt."
    )
    retry_max_s: float = Field(default=3600.0, ge=0, le=7 * 86400)
    callback_max_attempts: int = Field(default=3, ge=1, le=50)


class ScreeningSettings(Section):
    """Spam and abuse screening at answer; the lists themselves live in the database (`callers`)."""

    enabled: bool = True
    max_calls_per_hour: int = Field(
        default=10, ge=0, le=10_000, description="Calls one number may make in an hour; 0 = no limit."
    )
    anonymous_policy: Literal["answer", "menu_only", "reject"] = Field(
        default="answer", description="Withheld or anonymous caller ids: answer | menu_only | reject."
    )


# Twilio's North American signalling gateways (Virginia us1, Oregon us2), from
# https://www.twilio.com/docs/sip-trunking/ip-addresses; add the ranges of the other edges you use.
TWILIO_SIGNALLING_DEFAULT = ["54.172.60.0/23", "34.203.250.0/23", "54.244.51.0/24"]


def _valid_cidrs(values: list[str]) -> list[str]:
    import ipaddress

    for value in values:
        ipaddress.ip_network(value, strict=False)
    return values


class TrunkSettings(Section):
    """The SIP trunk that brings outside calls to Asterisk; rendered into pjsip.conf by `conf render`."""

    type: Literal["none", "generic", "twilio"] = "none"
    dids: list[str] = Field(
        default_factory=list, description="Numbers (as the trunk sends them) the operator answers."
    )
    host: str = Field(default="", description="generic: the provider's registrar/proxy host name or address.")
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: str = ""
    password: SecretStr = SecretStr("")
    registration: bool = Field(
        default=True, description="generic: register to the provider (else it is IP-matched only)."
    )
    from_domain: str = ""
    twilio_termination_uri: str = Field(default="", description="twilio: e.g. myhotel.pstn.twilio.com")
    twilio_signalling_cidrs: list[str] = Field(default_factory=lambda: list(TWILIO_SIGNALLING_DEFAULT))
    srtp: bool = Field(default=False, description="Encrypt trunk media (SDES-SRTP); needs transport tls.")
    caller_id: str = Field(default="", description="Number presented on outgoing calls (callbacks), E.164.")

    @field_validator("dids")
    @classmethod
    def _dids(cls, values: list[str]) -> list[str]:
        import re

        for value in values:
            if not re.fullmatch(r"\+?[0-9]{2,20}", value):
                raise ValueError(f"DID {value!r} must be digits, optionally with a leading +")
        return values

    @field_validator("twilio_signalling_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        return _valid_cidrs(values)


class PhoneSettings(Section):
    """Desk phones registered to Asterisk: room phones, staff extensions and the front-desk ring group."""

    room_first: int = Field(default=201, ge=1, le=99999)
    room_count: int = Field(
        default=0, ge=0, le=2000, description="Room phones room_first .. room_first+count-1."
    )
    front_desk_phones: int = Field(
        default=1, ge=0, le=20, description="Handsets rung together for the front desk."
    )
    front_desk_dial: str = Field(
        default="", description="Dial string for the front desk instead (e.g. Local/100@from-internal)."
    )
    password: SecretStr = Field(
        default=SecretStr(""), description="Seed from which each phone's own SIP password is derived."
    )
    ring_timeout_s: int = Field(default=25, ge=5, le=300)
    webrtc: bool = Field(
        default=False, description="Render a browser (WebRTC) endpoint that calls the operator."
    )
    webrtc_password: SecretStr = SecretStr("")
    webrtc_port: int = Field(default=8089, ge=1, le=65535)


class DeploySettings(Section):
    """Where the generated Asterisk configuration puts Asterisk on the network."""

    sip_bind: str = "0.0.0.0"
    sip_port: int = Field(default=5060, ge=1, le=65535)
    tls_port: int = Field(default=5061, ge=1, le=65535)
    tls_cert_file: str = Field(
        default="", description="PEM certificate; enables the TLS transport (and WebRTC)."
    )
    tls_key_file: str = ""
    external_address: str = Field(default="", description="Public address when Asterisk sits behind NAT.")
    local_nets: list[str] = Field(default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
    rtp_start: int = Field(default=10000, ge=1024, le=65535)
    rtp_end: int = Field(default=20000, ge=1024, le=65535)
    http_bind: str = Field(
        default="127.0.0.1", description="Address Asterisk's HTTP (ARI) and AMI listen on."
    )
    service_host: str = Field(
        default="",
        description="Address Asterisk reaches the service's FastAGI on; empty = asterisk.agi_host.",
    )
    service_network: str = Field(
        default="127.0.0.1/32", description="Network the service connects from (AMI permit)."
    )
    after_hours: str = Field(
        default="", pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
    )

    @field_validator("local_nets")
    @classmethod
    def _nets(cls, values: list[str]) -> list[str]:
        return _valid_cidrs(values)

    @field_validator("service_network")
    @classmethod
    def _service_net(cls, value: str) -> str:
        _valid_cidrs([value])
        return value

    @model_validator(mode="after")
    def _rtp_range(self) -> DeploySettings:
        if self.rtp_end <= self.rtp_start:
            raise ValueError(f"rtp_end ({self.rtp_end}) must be > rtp_start ({self.rtp_start})")
        return self


class CallLimitSettings(Section):
    """Per-call limits (issue 15/16): every limit ends the call politely and names itself as the
    call's end reason."""

    max_duration_s: float = Field(default=1800.0, gt=0, description="Longest call (default 30 min).")
    duration_warning_s: float = Field(
        default=60.0, ge=0, description="Warn the caller this long before max_duration_s."
    )
    inactivity_s: float = Field(
        default=12.0, gt=0, description="No speech and no key for this long: one prompt, then goodbye."
    )
    inactivity_prompts: int = Field(default=1, ge=0, le=5, description="Prompts before the goodbye.")
    media_timeout_s: float = Field(
        default=10.0, gt=0, description="No RTP from Asterisk for this long: the caller is gone."
    )
    fallback_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="Dead-man TIMEOUT(absolute) kept on the caller's channel while we serve it; if the "
        "service dies, Asterisk sends the caller to the dialplan's T extension (front desk). 0 = off.",
    )


class WebRtcSettings(Section):
    """Browser calls (issue 14): the page at /voice/call and its signalling WebSocket /voice/webrtc."""

    enabled: bool = True
    max_calls: int = Field(default=8, ge=0, le=1000, description="Browser calls at once; 0 = page off.")
    max_calls_per_ip: int = Field(default=2, ge=1, le=100, description="Browser calls at once from one IP.")
    token_ttl_s: float = Field(default=60.0, gt=0, le=3600, description="A call token is good this long.")
    token_secret: SecretStr | None = Field(
        default=None, description="HMAC key for call tokens (env); unset: a random key per process."
    )
    idle_timeout_s: float = Field(
        default=120.0, gt=0, description="No voice, key or message from the browser this long: hang up."
    )
    max_duration_s: float = Field(default=900.0, gt=0, description="Longest browser call.")
    signalling_timeout_s: float = Field(
        default=15.0, gt=0, description="A socket that sends no offer this long (or ICE that never connects) is closed."
    )
    ice_servers: list[str] = Field(
        default_factory=list, description="STUN/TURN URLs for both ends (empty: host candidates, LAN)."
    )


class SyncSettings(Section):
    """Cloud sync of finished calls (issue 13): signed pushes to ``url``; off by default."""

    enabled: bool = False
    url: str = Field(default="", description="HTTPS endpoint that receives finished calls (POST, JSON).")
    secret: SecretStr = Field(default=SecretStr(""), description="HMAC-SHA256 key shared with the receiver.")
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=0, ge=0, le=1_000_000, description="0 = retry for ever (with backoff).")


class VoiceApiSettings(Section):
    """Outbound calls placed through the API (issue 13)."""

    outbound_per_number_per_hour: int = Field(default=3, ge=0, le=1000, description="0 = no limit.")
    outbound_ring_timeout_s: int = Field(default=30, ge=5, le=300)


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
    trunk: TrunkSettings = Field(default_factory=TrunkSettings)
    phones: PhoneSettings = Field(default_factory=PhoneSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    calls: CallLimitSettings = Field(default_factory=CallLimitSettings)
    webrtc: WebRtcSettings = Field(default_factory=WebRtcSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    voice_api: VoiceApiSettings = Field(default_factory=VoiceApiSettings)

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
        if not key.startswith(ENV_PREFIX) or key in PROCESS_ENV:
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        model: type[BaseModel] = Settings
        for i, part in enumerate(path):
            field = model.model_fields.get(part)
            if field is None:
                raise ConfigError(
                    f"environment: {key} names no setting (unknown key {'.'.join(path[: i + 1])})"
                )
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


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):(?P<pw>[^@/\s]+)@")


def mask_url(text: str) -> str:
    """``scheme://user:password@host`` with the password replaced, wherever it sits in ``text``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)


def _mask_urls(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, dict):
        return {k: _mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_urls(v) for v in value]
    return value


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced, for `config show` and logs.

    SecretStr fields dump masked by themselves; passwords inside URLs (``database.url``,
    ``asterisk.ari_url`` with ``user:pw@``) are plain strings and are masked here.
    """
    dumped: dict[str, Any] = _mask_urls(settings.model_dump(mode="json"))
    return dumped
