"""The Asterisk side of an install: render pjsip/dialplan/ARI/AMI/RTP configuration from the
settings, and check a configuration folder before the IT person reloads Asterisk."""

from __future__ import annotations

from ari_app.asterisk_conf.check import Finding, check
from ari_app.asterisk_conf.errors import AsteriskConfError, RenderError, TemplateError
from ari_app.asterisk_conf.render import CONF_FILES, render, render_text

__all__ = [
    "CONF_FILES",
    "AsteriskConfError",
    "Finding",
    "RenderError",
    "TemplateError",
    "check",
    "render",
    "render_text",
]
