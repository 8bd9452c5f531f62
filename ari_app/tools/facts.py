"""Hotel facts: the answers the operator gives about the hotel, from a TOML file the hotel edits.

Answers live in a file rather than in code so a hotel can change its breakfast hours without a
release; the bundled file describes the demo hotel so a fresh install can answer at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ari_app.tools.errors import NotConfigured

if TYPE_CHECKING:
    from ari_app.settings import HotelSettings

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_words(text: str) -> str:
    """Lower-case words separated by single spaces, padded, so ``" kw "`` finds whole words only."""
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    answer: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class HotelFacts:
    hotel_name: str
    address: str = ""
    phone: str = ""
    email: str = ""
    check_in_time: time = time(15, 0)
    check_out_time: time = time(11, 0)
    topics: dict[str, Topic] = field(default_factory=dict)

    def lookup(self, text: str) -> Topic | None:
        """The topic whose longest keyword occurs in ``text`` (by whole words), or None."""
        words = normalize_words(text)
        best: tuple[int, Topic] | None = None
        for topic in self.topics.values():
            for kw in topic.keywords:
                if kw in words and (best is None or len(kw) > best[0]):
                    best = (len(kw), topic)
        return best[1] if best else None

    def topic(self, name: str) -> Topic | None:
        key = name.strip().lower().replace("-", "_").replace(" ", "_")
        return self.topics.get(key) or self.lookup(name)

    def prompt_text(self) -> str:
        """The facts as plain lines for an LLM system prompt."""
        lines = [f"Hotel: {self.hotel_name}"]
        if self.address:
            lines.append(f"Address: {self.address}")
        if self.phone:
            lines.append(f"Phone: {self.phone}")
        lines.append(f"Check-in from {self.check_in_time:%H:%M}, check-out by {self.check_out_time:%H:%M}.")
        lines.extend(f"- {t.title}: {t.answer}" for t in self.topics.values())
        return "\n".join(lines)


def _parse_time(value: Any, default: time) -> time:
    if not value:
        return default
    hh, _, mm = str(value).partition(":")
    return time(int(hh), int(mm or 0))


def facts_from_mapping(data: dict[str, Any], hotel: HotelSettings) -> HotelFacts:
    info = data.get("hotel", {})
    check_in = _parse_time(info.get("check_in_time"), time(15, 0))
    check_out = _parse_time(info.get("check_out_time"), time(11, 0))
    values = {
        "hotel_name": hotel.name,
        "cancellation_free_hours": hotel.cancellation_free_hours,
        "check_in_time": f"{check_in:%H:%M}",
        "check_out_time": f"{check_out:%H:%M}",
    }
    topics: dict[str, Topic] = {}
    for name, raw in data.get("topics", {}).items():
        keywords = tuple(normalize_words(k) for k in raw.get("keywords", []) if k.strip())
        answer = str(raw.get("answer", "")).format_map(values)
        topics[name] = Topic(name=name, title=str(raw.get("title", name)), answer=answer, keywords=keywords)
    return HotelFacts(
        hotel_name=hotel.name,
        address=str(info.get("address", "")),
        phone=str(info.get("phone", "")),
        email=str(info.get("email", "")),
        check_in_time=check_in,
        check_out_time=check_out,
        topics=topics,
    )


def load_facts(hotel: HotelSettings) -> HotelFacts:
    """Read ``hotel.facts_file`` (or the bundled demo facts); a broken file is the hotel's to fix."""
    source = hotel.facts_file or "bundled hotel_facts.toml"
    try:
        if hotel.facts_file:
            text = Path(hotel.facts_file).read_text(encoding="utf-8")
        else:
            text = resources.files("ari_app.data").joinpath("hotel_facts.toml").read_text(encoding="utf-8")
        return facts_from_mapping(tomllib.loads(text), hotel)
    except (OSError, tomllib.TOMLDecodeError, ValueError, KeyError) as exc:
        raise NotConfigured(f"hotel facts file {source} is unusable: {exc}") from exc
