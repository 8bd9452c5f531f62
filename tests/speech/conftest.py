"""Fixtures of the speech tests; real models are loaded once per session (slow tests only)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from speechsupport import MemMedia  # noqa: E402

from ari_app.settings import SpeechSettings  # noqa: E402
from ari_app.speech import SpeechEngines  # noqa: E402


@pytest.fixture
def mem_media() -> Iterator[MemMedia]:
    yield MemMedia()


@pytest.fixture(scope="session")
def real_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechEngines]:
    """The bundled Whisper tiny.en and Piper voice, loaded once for all slow tests."""
    settings = SpeechSettings(prompt_cache_dir=str(tmp_path_factory.mktemp("prompts")))
    engines = SpeechEngines.load(settings, hotel_name="Harbour View Hotel")
    yield engines
    engines.pool.close()
