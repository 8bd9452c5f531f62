"""Checks run before the service takes calls, so a bad setting fails at start-up, not on a call."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ari_app.settings import Settings
from models.db import DatabaseError, check_database


class PreflightError(Exception):
    """What must be fixed before start; ``str()`` is one line naming the setting."""


def _check_writable(setting: str, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PreflightError(f"{setting}: folder {folder} is not writable ({exc.strerror or exc})") from None


def _check_model_path(setting: str, value: str | None, must_be: str) -> None:
    if not value:
        return
    looks_like_path = os.sep in value or value.endswith((".onnx", ".bin")) or value.startswith(".")
    if looks_like_path and not Path(value).exists():
        raise PreflightError(f"{setting}: {value} does not exist (expected {must_be})")


def _check_file(setting: str, value: str | None) -> None:
    if value and not Path(value).is_file():
        raise PreflightError(f"{setting}: {value} does not exist")


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
