"""The ``hotel-operator`` command: one front door for IT staff.

Every configuration or environment problem ends as one line on stderr and exit code 2, never a
traceback: the reader is the hotel's IT person, and the line must say which setting to fix.
"""

from __future__ import annotations

import asyncio
import errno
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
    # Plain click help: the rich panels print a type after every flag (`--help <bool>`), which
    # reads as if the flag took a value.
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show or check the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Create or upgrade the database and load demo data.", no_args_is_help=True)
callers_app = typer.Typer(
    help="Caller screening: block list, allow list (VIP, staff); see also the [screening] settings.",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(callers_app, name="callers")

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
        Path | None,
        typer.Option("--config", "-c", metavar="FILE", help="TOML settings file (else $HOTEL_OPERATOR_CONFIG)."),
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", metavar="text|json", help="Log line format.")] = "text",
    log_level: Annotated[
        str, typer.Option("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
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
    """Validate the settings and what they point at: database and schema, folders, model files, and
    whether Asterisk's ARI and AMI answer. Changes nothing (no database file is created)."""
    from ari_app.preflight import PreflightError, config_report

    settings = settings_from(ctx)
    try:
        findings = run_async(lambda: config_report(settings))
    except PreflightError as exc:
        fail(str(exc))
    for finding in findings:
        typer.echo(str(finding))
    warnings = sum(1 for f in findings if f.level == "warn")
    typer.echo(f"configuration is valid{f', with {warnings} warning(s) above' if warnings else ''}")


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


# ---------------------------------------------------------------- callers


NumberArg = Annotated[str, typer.Argument(metavar="NUMBER", help="Caller number, as the trunk sends it or E.164.")]
NoteOpt = Annotated[str, typer.Option("--note", metavar="TEXT", help="Why (shown by `callers list`).")]


def _with_sessions(ctx: typer.Context, work: Callable[[Any], Any]) -> Any:
    from models.db import make_engine, session_factory

    settings = _migrated(settings_from(ctx))

    async def _run() -> Any:
        engine = make_engine(settings.database.url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return run_async(_run)


def _set_caller(ctx: typer.Context, number: str, kind: str, note: str) -> None:
    from datetime import UTC, datetime

    from ari_app.screening import ScreeningError, number_key, set_entry

    try:
        _with_sessions(ctx, lambda sessions: set_entry(sessions, number, kind, note, datetime.now(UTC)))
    except ScreeningError as exc:
        fail(str(exc))
    where = "block list" if kind == "block" else "allow list"
    typer.echo(f"{number} ({number_key(number)}) is on the {where}")


@callers_app.command("block")
def callers_block(ctx: typer.Context, number: NumberArg, note: NoteOpt = "") -> None:
    """Refuse calls from NUMBER: a short message, then a hang-up (stored with end reason blocked)."""
    _set_caller(ctx, number, "block", note)


@callers_app.command("allow")
def callers_allow(ctx: typer.Context, number: NumberArg, note: NoteOpt = "") -> None:
    """Always answer NUMBER (VIP, staff): no hourly limit applies."""
    _set_caller(ctx, number, "allow", note)


@callers_app.command("unblock")
def callers_unblock(ctx: typer.Context, number: NumberArg) -> None:
    """Take NUMBER off the block or allow list."""
    from ari_app.screening import remove_entry

    if not _with_sessions(ctx, lambda sessions: remove_entry(sessions, number)):
        fail(f"{number} is on neither list", code=1)
    typer.echo(f"{number} is on neither list now")


@callers_app.command("list")
def callers_list(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--list", metavar="block|allow", help="Only this list (default: both).")
    ] = None,
) -> None:
    """Show the block and allow lists."""
    from ari_app.screening import list_entries

    if kind not in (None, "block", "allow"):
        fail(f"--list {kind!r} is not allowed: use block or allow")
    entries = _with_sessions(ctx, lambda sessions: list_entries(sessions, kind))
    if not entries:
        typer.echo("no numbers on the lists")
    for e in entries:
        note = f"  {e.note}" if e.note else ""
        typer.echo(f"{e.kind:<5}  {e.number:<20}  since {e.created_at:%Y-%m-%d %H:%M}{note}")


# ---------------------------------------------------------------- serve / demo


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run the service: ARI app, RTP media, FastAGI server, AMI monitor, workers and HTTP API."""
    from ari_app.preflight import PreflightError, preflight, serve_checks
    from ari_app.service import StartupRefused, run_service

    settings = settings_from(ctx)
    try:
        serve_checks(settings)
        run_async(lambda: preflight(settings))
    except PreflightError as exc:
        fail(str(exc))
    try:
        run_async(lambda: run_service(settings))
    except StartupRefused as exc:
        fail(str(exc))
    except OSError as exc:
        # a port taken between the check above and the bind (another serve starting at once)
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        fail(f"a listening port can't be opened (check http.port and asterisk.agi_port): {exc}")


@app.command()
def demo(
    ctx: typer.Context,
    say: Annotated[
        list[str] | None,
        typer.Option("--say", metavar="TEXT", help="What the simulated caller says (repeat for several turns)."),
    ] = None,
    caller: Annotated[
        str | None,
        typer.Option(
            "--caller",
            metavar="NUMBER",
            help="Caller number (default: a new one each run, so runs don't see each other's bookings).",
        ),
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
    code = run_async(lambda: run_demo(settings, say or None, caller))
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
