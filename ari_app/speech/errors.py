"""Errors of the speech package, split by who must act.

:class:`SpeechConfigError` is the operator's to fix (a path, a broken model file) and is raised at
start-up, never on a call. :class:`SpeechEngineError` is an engine failing on a call: the call
apologises and offers another way through; retrying the same audio rarely helps, the next call may.
"""

from __future__ import annotations


class SpeechError(Exception):
    """Base error of :mod:`ari_app.speech`."""


class SpeechConfigError(SpeechError):
    """Bad speech settings or model files; ``str()`` is one console line naming the setting."""


class SpeechEngineError(SpeechError):
    """An STT/TTS engine failed while serving a call (``transient`` says whether a retry may help)."""

    def __init__(self, engine: str, detail: str, *, transient: bool = False) -> None:
        super().__init__(f"{engine}: {detail}")
        self.engine = engine
        self.transient = transient
