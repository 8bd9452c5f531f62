"""``hotel-operator recordings keygen|decrypt|purge``: recordings from the IT person's console.

Problems end as one line on stderr and exit code 2, like every other command: a wrong key or a
damaged file is a fact to report, not a traceback to read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ari_app.recording.crypto import decrypt_file, generate_key
from ari_app.recording.errors import RecordingError
from ari_app.recording.manager import key_from_settings
from ari_app.settings import ConfigError, Settings, load_settings

recordings_app = typer.Typer(help="Encryption keys, decryption and retention of call recordings.", no_args_is_help=True)

EXIT_CONFIG = 2


def _fail(message: str) -> NoReturn:
    typer.echo(f"hotel-operator: {message}", err=True)
    raise typer.Exit(EXIT_CONFIG)


def _settings(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    obj: dict[str, Any] = root.obj if isinstance(root.obj, dict) else {}
    settings = obj.get("settings")
    if isinstance(settings, Settings):
        return settings
    try:
        loaded = load_settings(obj.get("config_path"))
    except ConfigError as exc:
        _fail(str(exc))
    obj["settings"] = loaded
    root.obj = obj
    return loaded


@recordings_app.command("keygen")
def keygen() -> None:
    """Print a new encryption key for recording.encryption_key (keep it in the environment, e.g.
    HOTEL_OPERATOR_RECORDING__ENCRYPTION_KEY, and keep a copy: without it recordings cannot be read)."""
    typer.echo(generate_key())


@recordings_app.command("decrypt")
def decrypt(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An encrypted recording (.wav.enc).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the WAV.")],
) -> None:
    """Decrypt one recording with recording.encryption_key into a plain WAV."""
    settings = _settings(ctx)
    try:
        key = key_from_settings(settings.recording)
    except RecordingError as exc:
        _fail(str(exc))
    if key is None:
        _fail("recording.encryption_key is not set; it is needed to decrypt recordings")
    if not file.is_file():
        _fail(f"{file} does not exist")
    try:
        decrypt_file(file, out, key)
    except RecordingError as exc:
        _fail(f"{file}: {exc}")
    except OSError as exc:
        _fail(f"{out}: cannot write ({exc.strerror or exc})")
    typer.echo(f"wrote {out}")


@recordings_app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Apply recording.retention_days now: delete older recordings and clear their paths."""
    from ari_app.recording.retention import sweep
    from models.db import DatabaseError, check_database, make_engine, session_factory

    settings = _settings(ctx)
    try:
        key_from_settings(settings.recording)
    except RecordingError as exc:
        _fail(str(exc))

    async def _run() -> str:
        await check_database(settings.database.url)
        engine = make_engine(settings.database.url)
        try:
            return (await sweep(settings.recording, session_factory(engine))).summary()
        finally:
            await engine.dispose()

    try:
        summary = asyncio.run(_run())
    except DatabaseError as exc:
        _fail(str(exc))
    typer.echo(summary)
