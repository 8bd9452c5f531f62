"""Per-language prompts and recognition vocabulary, from ``lang/<language>.toml``.

Wording lives in data files so a hotel can translate or rephrase without touching code; a missing
language file is a start-up error, not a silent fallback to English on a French call.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ari_app.speech.errors import SpeechConfigError

BUNDLED_DIR = Path(__file__).with_name("lang")
REQUIRED_PROMPTS = ("one_moment", "apology", "didnt_catch")


@dataclass(frozen=True)
class Phrases:
    language: str
    prompts: dict[str, str]
    vocabulary: tuple[str, ...] = field(default_factory=tuple)
    stt_prompt: str = ""  # natural sentences Whisper is primed with ({hotel} filled in)

    def prompt(self, key: str, **values: str) -> str:
        try:
            template = self.prompts[key]
        except KeyError:
            raise KeyError(f"no prompt {key!r} for language {self.language!r}") from None
        return template.format(**values) if values else template

    @classmethod
    def load(cls, language: str, directory: str | Path | None = None) -> Phrases:
        base = Path(directory) if directory else BUNDLED_DIR
        path = base / f"{language}.toml"
        if not path.is_file():
            raise SpeechConfigError(f"speech.language: no phrase file {path} for language {language!r}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise SpeechConfigError(f"speech.phrases_dir: {path} is not valid TOML: {exc}") from exc
        prompts = {str(k): str(v) for k, v in dict(data.get("prompts", {})).items()}
        missing = [k for k in REQUIRED_PROMPTS if k not in prompts]
        if missing:
            raise SpeechConfigError(f"speech.phrases_dir: {path} lacks prompts {', '.join(missing)}")
        stt = dict(data.get("stt", {}))
        vocab = tuple(str(v) for v in stt.get("vocabulary", []))
        return cls(language, prompts, vocab, str(stt.get("prompt", "")))
