"""Checks run before the service takes calls, so a bad setting fails at start-up, not on a call.

Two audiences: :func:`preflight` guards ``serve``/``demo`` (raise on the first problem, touch
nothing the service wouldn't), and :func:`config_report` answers ``config check``, which must
*look* and never change anything: it does not create the SQLite file, it reports a missing schema
instead of calling an empty database valid, and it says whether Asterisk's ARI and AMI answer
(a warning, since the service retries a down Asterisk).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from ari_app.asterisk_conf.passwords import KNOWN_DEFAULTS
from ari_app.settings import Settings, mask_url
from models.db import DatabaseError, check_database

REACH_TIMEOUT_S = 3.0


class PreflightError(Exception):
    """What must be fixed before start; ``str()`` is one line naming the setting."""


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["ok", "warn"]
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def _check_writable(setting: str, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PreflightError(f"{setting}: folder {folder} is not writable ({exc.strerror or exc})") from None


def _probe_writable(folder: Path) -> bool:
    """Write and remove a scratch file: permission bits lie for root and for special file systems."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            return True
    except OSError:
        return False


def _folder_state(setting: str, folder: Path) -> Finding:
    """Whether ``folder`` is usable, without creating it: an existing writable folder, or one the
    service can create because its nearest existing parent is writable."""
    if folder.is_dir():
        if _probe_writable(folder):
            return Finding("ok", f"{setting}: folder {folder} is writable")
        raise PreflightError(f"{setting}: folder {folder} is not writable")
    if folder.exists():
        raise PreflightError(f"{setting}: {folder} exists and is not a folder")
    parent = folder.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and _probe_writable(parent):
        return Finding("ok", f"{setting}: folder {folder} does not exist yet; it will be created")
    raise PreflightError(f"{setting}: folder {folder} can't be created ({parent} is not writable)")


def _check_model_path(setting: str, value: str | None, must_be: str) -> None:
    if not value:
        return
    looks_like_path = os.sep in value or value.endswith((".onnx", ".bin")) or value.startswith(".")
    if looks_like_path and not Path(value).exists():
        raise PreflightError(f"{setting}: {value} does not exist (expected {must_be})")


def _check_file(setting: str, value: str | None) -> None:
    if value and not Path(value).is_file():
        raise PreflightError(f"{setting}: {value} does not exist")


def _check_dir(setting: str, value: str | None) -> str | None:
    if not value:
        return None
    if not Path(value).is_dir():
        raise PreflightError(f"{setting}: folder {value} does not exist")
    return f"{setting}: folder {value} exists"


def _static_checks(settings: Settings) -> list[str]:
    """The checks both audiences share: files, model paths, the RTP range, the recording key."""
    done: list[str] = []
    from ari_app.recording import RecordingError, key_from_settings

    try:
        if key_from_settings(settings.recording) is not None:
            done.append("recording encryption key is valid")
    except RecordingError as exc:
        raise PreflightError(str(exc)) from None
    _check_model_path("speech.whisper_model", settings.speech.whisper_model, "a faster-whisper model folder")
    _check_model_path("speech.piper_model", settings.speech.piper_model, "a Piper .onnx voice")
    _check_model_path("speech.piper_config", settings.speech.piper_config, "a Piper .onnx.json config")
    for lang, voice in settings.speech.voices.items():
        _check_model_path(f"speech.voices.{lang}", voice, "a Piper .onnx voice")
    done.append("model paths exist")
    _check_file("hotel.facts_file", settings.hotel.facts_file)
    _check_file("ivr.menu_file", settings.ivr.menu_file)
    if settings.media.port_max - settings.media.port_min < 1:
        raise PreflightError("media.port_min/port_max: the RTP range must hold at least two ports")
    return done


async def preflight(settings: Settings) -> list[str]:
    """Return what was checked; raise :class:`PreflightError` on the first problem."""
    done: list[str] = []
    try:
        await check_database(settings.database.url)
    except DatabaseError as exc:
        raise PreflightError(str(exc)) from None
    done.append("database answers")
    if settings.recording.enabled:
        _check_writable("recording.directory", Path(settings.recording.directory))
        done.append(f"recording folder {settings.recording.directory} is writable")
    done.extend(_static_checks(settings))
    return done


# ---------------------------------------------------------------- serve only


def default_password_problems(settings: Settings) -> list[str]:
    """Settings holding a password from the list `conf render` refuses (one list, one rule)."""
    found: list[str] = []
    for i, server in enumerate(settings.asterisk.servers()):
        label = "asterisk.ari_password" if i == 0 else f"asterisk.additional_servers[{i - 1}].ari_password"
        if server.ari_password.get_secret_value().strip().lower() in KNOWN_DEFAULTS:
            found.append(label)
    if settings.asterisk.ami_enabled and (
        settings.asterisk.ami_password.get_secret_value().strip().lower() in KNOWN_DEFAULTS
    ):
        found.append("asterisk.ami_password")
    return found


def check_port_free(setting: str, host: str, port: int) -> None:
    """Bind and release ``host:port`` so a busy port is one line at start, not a traceback later."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PreflightError(f"{setting}: host {host!r} can't be resolved ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp/asyncio servers do
        try:
            sock.bind(address)
        except OSError as exc:
            raise PreflightError(port_error(setting, host, port, exc)) from None


def port_error(setting: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        why = "is already in use (another `hotel-operator serve`, or another program, listens there)"
    elif exc.errno == errno.EACCES:
        why = "needs privileges (use a port above 1023)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "is not an address of this host"
    else:
        why = f"can't be opened ({exc.strerror or exc})"
    return f"{setting}: {host}:{port} {why}"


def serve_checks(settings: Settings) -> None:
    """What `serve` refuses before loading anything: default passwords and busy ports."""
    weak = default_password_problems(settings)
    if weak:
        raise PreflightError(
            f"{', '.join(weak)}: a well-known default password (the same list `conf render` refuses); "
            "set a strong secret in the environment"
        )
    check_port_free("http.port", settings.http.host, settings.http.port)
    check_port_free("asterisk.agi_port", settings.asterisk.agi_host, settings.asterisk.agi_port)


# ---------------------------------------------------------------- config check


async def _database_findings(settings: Settings) -> list[Finding]:
    url = settings.database.url
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    migrate_hint = (
        "`hotel-operator db upgrade` creates it (serve does at start: database.auto_migrate = true)"
        if settings.database.auto_migrate
        else "run `hotel-operator db upgrade` (database.auto_migrate = false: serve won't)"
    )
    missing = _missing_sqlite_file(url)
    if missing is not None:
        return _schema_verdict(settings, f"database file {missing} does not exist yet; {migrate_hint}")
    try:
        await check_database(url)
    except DatabaseError as exc:
        raise PreflightError(str(exc)) from None
    found = [Finding("ok", f"database {shown} answers")]
    state = await _schema_state(url)
    if state is None:
        found.extend(_schema_verdict(settings, f"database schema is missing (no tables); {migrate_hint}"))
    elif state:
        found.extend(_schema_verdict(settings, f"database schema is behind ({state}); {migrate_hint}"))
    else:
        found.append(Finding("ok", "database schema is up to date"))
    return found


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file when it doesn't exist yet (its folder must); None otherwise or for PostgreSQL.

    Connecting would create an empty file, which is exactly what `config check` must not do.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    file = Path(parsed.database)
    folder = file.absolute().parent
    if not folder.is_dir():
        raise PreflightError(f"database.url: folder {folder} for the SQLite file does not exist")
    if file.exists():
        return None
    if not _probe_writable(folder):
        raise PreflightError(f"database.url: folder {folder} is not writable, so the SQLite file can't be created")
    return file


def _schema_verdict(settings: Settings, text: str) -> list[Finding]:
    if settings.database.auto_migrate:
        return [Finding("warn", text)]
    raise PreflightError(text)


async def _schema_state(url: str) -> str | None:
    """None: no schema at all; "": at the latest revision; else what is behind."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from models.db import make_engine
    from models.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()
    if not tables:
        return None
    if current != head:
        return f"revision {current or 'none'}, latest {head}"
    return ""


def _folder_findings(settings: Settings) -> list[Finding]:
    found: list[Finding] = []
    rec = Path(settings.recording.directory)
    if settings.recording.enabled:
        found.append(_folder_state("recording.directory", rec))
    else:
        found.append(Finding("ok", f"recording.directory: recording is off (folder {rec} is not used)"))
    found.append(_folder_state("speech.prompt_cache_dir", Path(settings.speech.prompt_cache_dir)))
    for setting, value in (("ivr.sounds_dir", settings.ivr.sounds_dir), ("speech.phrases_dir", settings.speech.phrases_dir)):
        line = _check_dir(setting, value)
        if line:
            found.append(Finding("ok", line))
    return found


async def ari_reachability(settings: Settings, timeout_s: float = REACH_TIMEOUT_S) -> list[Finding]:
    """GET /ari/asterisk/info on every configured Asterisk: answers, refuses us, or is down."""
    import aiohttp

    found: list[Finding] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for server in settings.asterisk.servers():
            url = f"{server.ari_url}/ari/asterisk/info"
            where = f"ARI {server.name} at {mask_url(server.ari_url)}"
            token = base64.b64encode(f"{server.ari_user}:{server.ari_password.get_secret_value()}".encode()).decode()
            try:
                async with http.get(url, headers={"Authorization": f"Basic {token}"}) as reply:
                    if reply.status == 200:
                        info = await reply.json(content_type=None)
                        version = (info.get("system") or {}).get("version", "") if isinstance(info, dict) else ""
                        found.append(Finding("ok", f"{where} answers{f' (Asterisk {version})' if version else ''}"))
                    elif reply.status == 401:
                        found.append(
                            Finding("warn", f"{where} refuses asterisk.ari_user/ari_password (HTTP 401)")
                        )
                    else:
                        found.append(Finding("warn", f"{where} answered HTTP {reply.status}"))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                found.append(Finding("warn", f"{where} is not reachable ({reason}); serve keeps retrying"))
    return found


async def ami_reachability(settings: Settings, timeout_s: float = REACH_TIMEOUT_S) -> list[Finding]:
    """Banner and login on the AMI port, then log off: is the monitor going to see anything?"""
    from ari_app.ami.protocol import AmiParser, AmiProtocolError, build_action

    ast = settings.asterisk
    if not ast.ami_enabled:
        return [Finding("ok", "AMI monitor is off (asterisk.ami_enabled = false)")]
    where = f"AMI at {ast.ami_host}:{ast.ami_port}"
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(ast.ami_host, ast.ami_port)
            parser = AmiParser()
            writer.write(
                build_action(
                    "Login",
                    "check-1",
                    {"Username": ast.ami_user, "Secret": ast.ami_password.get_secret_value(), "Events": "off"},
                )
            )
            await writer.drain()
            while True:
                data = await reader.read(4096)
                if not data:
                    return [Finding("warn", f"{where} closed the connection during login")]
                for msg in parser.feed(data):
                    if msg.action_id == "check-1" or msg.response:
                        if msg.response.lower() == "success":
                            writer.write(build_action("Logoff", "check-2"))
                            return [Finding("ok", f"{where} answers and accepts asterisk.ami_user ({parser.banner})")]
                        return [
                            Finding(
                                "warn",
                                f"{where} refuses asterisk.ami_user/ami_password ({msg.get('Message', 'error')})",
                            )
                        ]
    except (TimeoutError, OSError, AmiProtocolError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return [Finding("warn", f"{where} is not reachable ({reason}); serve keeps retrying")]
    finally:
        if writer is not None:
            writer.close()


async def config_report(settings: Settings, *, reach_timeout_s: float = REACH_TIMEOUT_S) -> list[Finding]:
    """What `config check` prints: ok and warn lines; a problem that stops `serve` raises."""
    found = await _database_findings(settings)
    found.extend(_folder_findings(settings))
    found.extend(Finding("ok", line) for line in _static_checks(settings))
    weak = default_password_problems(settings)
    if weak:
        raise PreflightError(f"{', '.join(weak)}: a well-known default password; serve refuses it")
    found.extend(await ari_reachability(settings, reach_timeout_s))
    found.extend(await ami_reachability(settings, reach_timeout_s))
    return found
