"""The ``hotel-operator`` command: one front door for IT staff.

Every configuration or environment problem ends as one line on stderr and exit code 2, never a
traceback: the reader is the hotel's IT person, and the line must say which setting to fix.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer

from ari_app import __version__
from ari_app.logging_setup import setup_logging
from ari_app.settings import ConfigError, Settings, load_settings, masked_dump

app = typer.Typer(
    name="hotel-operator",
    help="A voice operator for your hotel's Asterisk PBX: books rooms, answers questions, runs keypad menus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show or check the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Create or upgrade the database and load demo data.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")

T = TypeVar("T")
EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    typer.echo(f"hotel-operator: {message}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hotel-operator {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (else $HOTEL_OPERATOR_CONFIG).")
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json")] = "text",
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    if log_format not in ("text", "json"):
        fail(f"--log-format {log_format!r} is not allowed: use text or json")
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail(f"--log-level {log_level!r} is not allowed: use DEBUG, INFO, WARNING or ERROR")
    fmt: Literal["text", "json"] = "json" if log_format == "json" else "text"
    setup_logging(fmt, log_level)
    ctx.obj = {"config_path": config, "log_format": log_format}


def settings_from(ctx: typer.Context) -> Settings:
    """Load the settings once per command; a bad value ends the command with one line, exit 2."""
    obj: dict[str, Any] = ctx.find_root().obj or {}
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config_path"))
        except ConfigError as exc:
            fail(str(exc))
        ctx.find_root().obj = obj
    settings: Settings = obj["settings"]
    return settings


def run_async(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


# ---------------------------------------------------------------- config


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    typer.echo(json.dumps(masked_dump(settings_from(ctx)), indent=2))


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the settings and what they point at: database, recording folder, model files."""
    from ari_app.preflight import PreflightError, preflight

    settings = settings_from(ctx)
    try:
        for line in run_async(lambda: preflight(settings)):
            typer.echo(f"ok: {line}")
    except PreflightError as exc:
        fail(str(exc))
    typer.echo("configuration is valid")


# ---------------------------------------------------------------- db


def _migrated(settings: Settings) -> Settings:
    """Check the database answers (one clear line if not), then bring its schema up to date."""
    from models.db import DatabaseError, check_database
    from models.migrate import upgrade

    try:
        run_async(lambda: check_database(settings.database.url))
    except DatabaseError as exc:
        fail(str(exc))
    upgrade(settings.database.url)
    return settings


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the latest version."""
    _migrated(settings_from(ctx))
    typer.echo("database schema is up to date")


@db_app.command("seed")
def db_seed(ctx: typer.Context) -> None:
    """Load a demo hotel (room types, 20 rooms, rates) so a new install has something to talk about."""
    from models.db import make_engine, session_factory
    from models.seed import seed_demo_hotel

    settings = _migrated(settings_from(ctx))

    async def _seed() -> None:
        engine = make_engine(settings.database.url)
        try:
            await seed_demo_hotel(session_factory(engine))
        finally:
            await engine.dispose()

    run_async(_seed)
    typer.echo("demo hotel loaded")


# ---------------------------------------------------------------- serve / demo


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run the service: ARI app, RTP media, FastAGI server, AMI monitor, workers and HTTP API."""
    from ari_app.preflight import PreflightError, preflight
    from ari_app.service import StartupRefused, run_service

    settings = settings_from(ctx)
    try:
        run_async(lambda: preflight(settings))
    except PreflightError as exc:
        fail(str(exc))
    try:
        run_async(lambda: run_service(settings))
    except StartupRefused as exc:
        fail(str(exc))


@app.command()
def demo(
    ctx: typer.Context,
    say: Annotated[
        list[str] | None,
        typer.Option("--say", help="What the simulated caller says (repeat for several turns)."),
    ] = None,
) -> None:
    """Place a simulated call through the built-in Asterisk stand-in and print the conversation."""
    from ari_app.demo import run_demo
    from ari_app.preflight import PreflightError, preflight

    settings = settings_from(ctx)
    try:
        run_async(lambda: preflight(settings))
    except PreflightError as exc:
        fail(str(exc))
    code = run_async(lambda: run_demo(settings, say or None))
    raise typer.Exit(code)


def _mount_optional() -> None:
    """Sub-commands that live with their feature (Asterisk config rendering/checking)."""
    try:
        from ari_app.asterisk_conf.cli import conf_app
    except ImportError:
        return
    app.add_typer(conf_app, name="conf", help="Render and check the Asterisk configuration.")
    try:
        from ari_app.recording.cli import recordings_app
    except ImportError:
        return
    app.add_typer(recordings_app, name="recordings", help="Recording keys, decryption and retention.")


_mount_optional()


def main() -> NoReturn:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
