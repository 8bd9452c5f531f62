"""Errors of the Asterisk configuration package: one base, so the CLI can catch them all."""

from __future__ import annotations


class AsteriskConfError(Exception):
    """Base of every error raised while rendering or checking the Asterisk configuration."""


class RenderError(AsteriskConfError):
    """The settings can't produce a safe configuration (missing or weak secret, clashing numbers).

    Always the operator's to fix in the settings; rendering again won't help until they do.
    """


class TemplateError(AsteriskConfError):
    """A template file is missing or names a value the renderer does not provide (our bug)."""
