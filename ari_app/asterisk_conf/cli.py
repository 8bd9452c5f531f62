"""``hotel-operator conf render|check``: the Asterisk configuration from the IT person's console.

The commands take the loaded settings from ``ctx.obj["settings"]`` (put there by the main
command); the work itself is :func:`render` and :func:`check`, plain functions tests call directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from ari_app.asterisk_conf.check import check
from ari_app.asterisk_conf.errors import AsteriskConfError
from ari_app.asterisk_conf.render import render
from ari_app.settings import ConfigError, Settings, load_settings

conf_app = typer.Typer(help="Render and check the Asterisk configuration.", no_args_is_help=True)

EXIT_FINDINGS = 1
EXIT_CONFIG = 2


def _settings(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    obj: dict[str, Any] = root.obj if isinstance(root.obj, dict) else {}
    settings = obj.get("settings")
    if isinstance(settings, Settings):
        return settings
    try:
        loaded = load_settings(obj.get("config_path"))
    except ConfigError as exc:
        typer.echo(f"hotel-operator: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    obj["settings"] = loaded
    root.obj = obj
    return loaded


@conf_app.command("render")
def render_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder to write the .conf files into.")],
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            metavar="DIR",
            help="Template folder (default: $HOTEL_OPERATOR_CONF_TEMPLATES, else the bundled ones).",
        ),
    ] = None,
) -> None:
    """Write pjsip, extensions, ari, http, manager, rtp and modules .conf files from the settings."""
    settings = _settings(ctx)
    try:
        written = render(settings, out, templates=templates)
    except AsteriskConfError as exc:
        typer.echo(f"hotel-operator: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    for path in written:
        typer.echo(f"wrote {path}")
    findings = check(out, settings)
    for finding in findings:
        typer.echo(str(finding), err=True)
    if findings:
        raise typer.Exit(EXIT_FINDINGS)


class _PlainUsage(TyperCommand):
    """Usage as `conf check DIR`: typer writes required arguments as `{conf_dir}`, which reads like
    a literal to type."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # typer vendors its own click Context
        return [piece.replace("{", "").replace("}", "") for piece in super().collect_usage_pieces(ctx)]


@conf_app.command("check", cls=_PlainUsage)
def check_command(
    ctx: typer.Context,
    conf_dir: Annotated[Path, typer.Argument(metavar="DIR", help="Folder holding the Asterisk .conf files.")],
) -> None:
    """Lint the dialplan and cross-check the folder against the settings; exit 1 on any finding."""
    settings = _settings(ctx)
    if not conf_dir.is_dir():
        typer.echo(f"hotel-operator: {conf_dir} is not a folder", err=True)
        raise typer.Exit(EXIT_CONFIG)
    findings = check(conf_dir, settings)
    for finding in findings:
        typer.echo(str(finding))
    if findings:
        raise typer.Exit(EXIT_FINDINGS)
    typer.echo(f"{conf_dir}: no problems found")
