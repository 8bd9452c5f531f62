"""A small reader for Asterisk's ``.conf`` format that keeps line numbers.

Just enough of the format for checking: ``[section](options)`` headers with templates,
``key = value`` and ``key => value`` items, ``;`` comments (``\\;`` is a literal semicolon) and
``;-- … --;`` block comments. Pure: text in, sections out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:\((?P<opts>[^)]*)\))?\s*$")


@dataclass(frozen=True)
class Item:
    key: str
    value: str
    line: int
    arrow: bool = False


@dataclass
class Section:
    name: str
    line: int
    is_template: bool = False
    templates: list[str] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    def get(self, key: str) -> Item | None:
        for item in self.items:
            if item.key == key:
                return item
        return None

    def all(self, key: str) -> list[Item]:
        return [item for item in self.items if item.key == key]


def _strip_comment(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def parse_conf(text: str) -> list[Section]:
    sections: list[Section] = []
    current: Section | None = None
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_block:
            if "--;" in raw:
                in_block = False
                raw = raw.split("--;", 1)[1]
            else:
                continue
        if ";--" in raw:
            before, after = raw.split(";--", 1)
            if "--;" in after:
                raw = before + after.split("--;", 1)[1]
            else:
                in_block = True
                raw = before
        line = _strip_comment(raw)
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            opts = [o.strip() for o in (header.group("opts") or "").split(",") if o.strip()]
            current = Section(
                name=header.group("name").strip(),
                line=number,
                is_template="!" in opts,
                templates=[o for o in opts if o not in ("!", "+")],
            )
            sections.append(current)
            continue
        if current is None:
            continue
        eq = line.find("=")
        if eq < 0:
            continue
        arrow = line[eq + 1 : eq + 2] == ">"
        key, value = line[:eq], line[eq + (2 if arrow else 1) :]
        current.items.append(Item(key.strip().lower(), value.strip(), number, arrow=arrow))
    return sections


def split_args(text: str, sep: str = ",") -> list[str]:
    """Split dialplan application arguments at ``sep`` outside (), [] and {} nesting."""
    parts: list[str] = []
    depth = 0
    buf: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


@dataclass(frozen=True)
class AppCall:
    """One dialplan priority: the extension it belongs to, its label, application and raw args."""

    context: str
    extension: str
    label: str
    app: str
    args: str
    line: int


_APP = re.compile(r"^\s*(?P<app>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\((?P<args>.*)\))?\s*$", re.S)


def dialplan_calls(sections: list[Section]) -> list[AppCall]:
    calls: list[AppCall] = []
    for sec in sections:
        if sec.name in ("general", "globals"):
            continue
        extension = ""
        for item in sec.items:
            if item.key == "exten":
                parts = item.value.split(",", 2)
                if len(parts) < 3:
                    continue
                extension, prio, rest = parts
                if prio.strip() == "hint":
                    continue
            elif item.key == "same":
                parts = item.value.split(",", 1)
                if len(parts) < 2:
                    continue
                prio, rest = parts
            else:
                continue
            label = ""
            m = re.match(r"^\s*[n0-9+]*\((?P<label>[^)]*)\)", prio)
            if m:
                label = m.group("label")
            app = _APP.match(rest)
            if app:
                calls.append(
                    AppCall(
                        sec.name,
                        extension.strip(),
                        label,
                        app.group("app"),
                        app.group("args") or "",
                        item.line,
                    )
                )
    return calls
