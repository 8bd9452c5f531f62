"""The keypad menu file: schema, loading, and the checks that keep a bad file away from live calls.

IT staff edit this file by hand, so every mistake the engine could trip over at 3 a.m. is caught at
load time instead (unknown menu or department, duplicate digit, a menu from which a caller can never
leave, a timeout chain that loops forever) and reported as one :class:`MenuConfigError` line that
names the menu. The engine only ever sees the resolved, frozen :class:`MenuTree`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ari_app.ivr.errors import MenuConfigError

DEFAULT_MENU_FILE = Path(__file__).with_name("default_menu.yaml")
DIALABLE = "0123456789"
RESERVED = {"*": "back", "#": "finish"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(_Model):
    """Text spoken by TTS, or a sound file (Asterisk sound name, no extension); both is allowed."""

    text: str | None = None
    sound: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Prompt:
        if not (self.text or self.sound):
            raise ValueError("a prompt needs text or sound")
        return self


class GotoMenu(_Model):
    action: Literal["menu"]
    menu: str


class StartAgentAction(_Model):
    action: Literal["agent"]


class TransferAction(_Model):
    action: Literal["transfer"]
    extension: str | None = Field(default=None, pattern=r"^[0-9*#+]+$")
    department: str | None = None
    context: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferAction:
        if (self.extension is None) == (self.department is None):
            raise ValueError("a transfer names exactly one of extension or department")
        return self


class InfoAction(_Model):
    action: Literal["info"]
    prompt: Prompt


class RepeatAction(_Model):
    action: Literal["repeat"]


class BackAction(_Model):
    action: Literal["back"]


class OperatorAction(_Model):
    action: Literal["operator"]


class HangupAction(_Model):
    action: Literal["hangup"]
    prompt: Prompt | None = None


class LanguageAction(_Model):
    """The caller's language choice ("para español oprima 2"): later prompts and the agent use it."""

    action: Literal["language"]
    language: str = Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")
    menu: str


Action = Annotated[
    GotoMenu
    | StartAgentAction
    | TransferAction
    | InfoAction
    | RepeatAction
    | BackAction
    | OperatorAction
    | HangupAction
    | LanguageAction,
    Field(discriminator="action"),
]
# A final destination must leave the menu for good or go to another menu; repeat/back/info would
# put a caller who never presses anything in an endless loop.
Destination = Annotated[
    GotoMenu | StartAgentAction | TransferAction | OperatorAction | HangupAction,
    Field(discriminator="action"),
]
EXITS = (StartAgentAction, TransferAction, OperatorAction, HangupAction)


class Option(_Model):
    """One key (and the words that mean the same key) and what it does; written flat in YAML."""

    digit: str
    synonyms: tuple[str, ...] = ()
    do: Action

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "do" not in data:
            data = dict(data)
            inner = {k: data.pop(k) for k in list(data) if k not in ("digit", "synonyms")}
            data["do"] = inner
        return data

    @field_validator("digit", mode="before")
    @classmethod
    def _digit(cls, value: Any) -> str:
        text = str(value)
        if text in RESERVED:
            raise ValueError(f"key {text} is reserved for {RESERVED[text]}")
        if len(text) != 1 or text not in DIALABLE:
            raise ValueError("an option is one key 0-9")
        return text


class RetryPolicy(_Model):
    attempts: int | None = Field(default=None, ge=1, le=10)
    prompt: Prompt | None = None
    destination: Destination | None = None


class TimeoutPolicy(RetryPolicy):
    seconds: float | None = Field(default=None, gt=0, le=120)


class DirectDial(_Model):
    """Room or extension numbers typed instead of a menu key, finished by # or a pause."""

    enabled: bool = True
    first_digits: str = Field(default="123456789", pattern=r"^[0-9]+$")
    min_digits: int = Field(default=3, ge=1, le=12)
    max_digits: int = Field(default=4, ge=1, le=12)
    interdigit_timeout_s: float = Field(default=3.0, gt=0, le=30)
    pattern: str | None = Field(default=None, description="Full-match regex the number must satisfy.")
    context: str | None = None

    @model_validator(mode="after")
    def _check(self) -> DirectDial:
        if self.max_digits < self.min_digits:
            raise ValueError(f"max_digits ({self.max_digits}) < min_digits ({self.min_digits})")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
        return self


class Menu(_Model):
    prompt: Prompt
    options: tuple[Option, ...] = ()
    timeout: TimeoutPolicy = TimeoutPolicy()
    invalid: RetryPolicy = RetryPolicy()
    direct_dial: DirectDial | None = None


class Hours(_Model):
    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = WEEKDAYS  # type: ignore[assignment]
    open: time
    close: time


class Entry(_Model):
    day: str
    night: str | None = None
    holiday: str | None = None


class Defaults(_Model):
    timeout: TimeoutPolicy = TimeoutPolicy()
    invalid: RetryPolicy = RetryPolicy()
    direct_dial: DirectDial | None = None


class MenuFile(_Model):
    version: Literal[1] = 1
    timezone: str | None = None
    entry: Entry
    business_hours: tuple[Hours, ...] = ()
    holidays: tuple[str, ...] = ()
    operator: Destination | None = None
    operator_digit: str | None = "0"
    defaults: Defaults = Defaults()
    menus: dict[str, Menu]

    @field_validator("entry", mode="before")
    @classmethod
    def _entry(cls, value: Any) -> Any:
        return {"day": value} if isinstance(value, str) else value

    @field_validator("holidays", mode="before")
    @classmethod
    def _holidays(cls, value: Any) -> Any:
        items = [v.isoformat() if isinstance(v, date) else str(v) for v in (value or ())]
        for item in items:
            if not re.fullmatch(r"(\d{4}-)?\d{2}-\d{2}", item):
                raise ValueError(f"holiday {item!r} is not YYYY-MM-DD or MM-DD")
        return tuple(items)


# ---------------------------------------------------------------------------------------------------
# The resolved tree the engine runs on.


@dataclass(frozen=True)
class ResolvedMenu:
    id: str
    prompt: Prompt
    options: Mapping[str, Any]  # digit -> Action
    synonyms: Mapping[str, str]  # normalised phrase -> digit
    timeout_s: float
    timeout_attempts: int
    timeout_prompt: Prompt | None
    timeout_destination: Any  # Destination
    invalid_attempts: int
    invalid_prompt: Prompt | None
    invalid_destination: Any  # Destination
    direct_dial: DirectDial | None


@dataclass(frozen=True)
class MenuTree:
    menus: Mapping[str, ResolvedMenu]
    entry: Entry
    tz: ZoneInfo
    hours: tuple[Hours, ...] = ()
    holidays: frozenset[str] = frozenset()
    operator: Any = None  # Destination | None
    operator_digit: str | None = "0"
    departments: Mapping[str, str] = field(default_factory=dict)
    transfer_context: str | None = None

    def is_holiday(self, local: datetime) -> bool:
        return local.date().isoformat() in self.holidays or local.strftime("%m-%d") in self.holidays

    def is_open(self, local: datetime) -> bool:
        """Business hours in the hotel's zone; no hours configured means always open."""
        if not self.hours:
            return True
        day = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        now = local.time()
        for h in self.hours:
            if h.open <= h.close:
                if day in h.days and h.open <= now < h.close:
                    return True
            else:  # spans midnight: open tonight, or still open from yesterday evening
                if (day in h.days and now >= h.open) or (yesterday in h.days and now < h.close):
                    return True
        return False

    def entry_menu(self, now: datetime) -> str:
        local = now.astimezone(self.tz) if now.tzinfo else now.replace(tzinfo=self.tz)
        if self.is_holiday(local):
            return self.entry.holiday or self.entry.night or self.entry.day
        if not self.is_open(local):
            return self.entry.night or self.entry.day
        return self.entry.day


def normalise_phrase(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


# ---------------------------------------------------------------------------------------------------
# Loading and checking.


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a second ``main:`` menu must be an error."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise MenuConfigError(f"menu file line {line}: key {key!r} appears twice", menu=str(key))
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_error(exc: ValidationError) -> MenuConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    menu = loc[1] if len(loc) > 1 and loc[0] == "menus" else None
    where = ".".join(loc) or "menu file"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    prefix = f"menu {menu!r}: " if menu else ""
    return MenuConfigError(f"{prefix}{where}: {msg}", menu=menu)


def parse_menu_data(
    data: Any,
    *,
    departments: Mapping[str, str] | None = None,
    front_desk_extension: str = "100",
    timezone: str = "UTC",
    transfer_context: str | None = None,
    languages: Collection[str] | None = None,
) -> MenuTree:
    """Validate plain data (as read from YAML) and resolve it into the engine's :class:`MenuTree`."""
    if not isinstance(data, Mapping):
        raise MenuConfigError("menu file: the top level must be a mapping with entry: and menus:")
    try:
        spec = MenuFile.model_validate(data)
    except ValidationError as exc:
        raise _parse_error(exc) from None
    return resolve(
        spec,
        departments=departments or {},
        front_desk_extension=front_desk_extension,
        timezone=timezone,
        transfer_context=transfer_context,
        languages=languages,
    )


def load_menu_file(path: str | Path | None = None, **kwargs: Any) -> MenuTree:
    """Read, validate and resolve a menu file (the bundled example when ``path`` is empty)."""
    target = Path(path) if path else DEFAULT_MENU_FILE
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise MenuConfigError(f"menu file {target} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except MenuConfigError:
        raise
    except yaml.YAMLError as exc:
        raise MenuConfigError(f"menu file {target} is not valid YAML: {exc}") from None
    return parse_menu_data(data, **kwargs)


def _resolve_dest(
    dest: Any,
    menu: str,
    what: str,
    menus: Mapping[str, Menu],
    departments: Mapping[str, str],
    context: str | None,
    languages: Collection[str] | None = None,
) -> Any:
    if isinstance(dest, LanguageAction):
        if languages is not None and dest.language not in languages:
            known = ", ".join(languages) or "none"
            raise MenuConfigError(
                f"menu {menu!r}: {what} chooses language {dest.language!r}, which has no voice "
                f"(languages with a voice: {known}; add it to speech.voices)",
                menu=menu,
            )
    if isinstance(dest, GotoMenu | LanguageAction) and dest.menu not in menus:
        raise MenuConfigError(f"menu {menu!r}: {what} goes to unknown menu {dest.menu!r}", menu=menu)
    if isinstance(dest, TransferAction):
        if dest.department is not None:
            ext = departments.get(dest.department) or departments.get(dest.department.lower())
            if ext is None:
                known = ", ".join(sorted(departments)) or "none configured"
                raise MenuConfigError(
                    f"menu {menu!r}: {what} transfers to unknown department {dest.department!r} (known: {known})",
                    menu=menu,
                )
            return dest.model_copy(update={"extension": ext, "context": dest.context or context})
        return dest.model_copy(update={"context": dest.context or context})
    return dest


def resolve(
    spec: MenuFile,
    *,
    departments: Mapping[str, str],
    front_desk_extension: str = "100",
    timezone: str = "UTC",
    transfer_context: str | None = None,
    languages: Collection[str] | None = None,
) -> MenuTree:
    """Resolve names and check the tree; ``languages`` (those with a voice; None = not checked)
    bounds what a language option may choose."""
    zone_name = spec.timezone or timezone
    try:
        tz = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MenuConfigError(f"menu file: timezone {zone_name!r} is not an IANA time zone") from None
    if not spec.menus:
        raise MenuConfigError("menu file: no menus defined")
    for role, name in (("entry.day", spec.entry.day), ("entry.night", spec.entry.night), ("entry.holiday", spec.entry.holiday)):
        if name is not None and name not in spec.menus:
            raise MenuConfigError(f"menu {name!r}: {role} names a menu that is not defined", menu=name)

    operator = spec.operator or TransferAction(action="transfer", extension=front_desk_extension)
    operator = _resolve_dest(operator, "(operator)", "operator", spec.menus, departments, transfer_context)
    d = spec.defaults
    resolved: dict[str, ResolvedMenu] = {}
    for name, m in spec.menus.items():
        options: dict[str, Any] = {}
        synonyms: dict[str, str] = {}
        for opt in m.options:
            if opt.digit in options:
                raise MenuConfigError(f"menu {name!r}: key {opt.digit} is defined twice", menu=name)
            options[opt.digit] = _resolve_dest(
                opt.do, name, f"key {opt.digit}", spec.menus, departments, transfer_context, languages
            )
            for phrase in opt.synonyms:
                key = normalise_phrase(phrase)
                if not key:
                    raise MenuConfigError(f"menu {name!r}: key {opt.digit} has an empty synonym", menu=name)
                if key in synonyms:
                    raise MenuConfigError(
                        f"menu {name!r}: synonym {phrase!r} is used by keys {synonyms[key]} and {opt.digit}",
                        menu=name,
                    )
                synonyms[key] = opt.digit
        t_dest = m.timeout.destination or d.timeout.destination or operator
        i_dest = m.invalid.destination or d.invalid.destination or operator
        dd = m.direct_dial if m.direct_dial is not None else d.direct_dial
        if dd is not None and not dd.enabled:
            dd = None
        resolved[name] = ResolvedMenu(
            id=name,
            prompt=m.prompt,
            options=options,
            synonyms=synonyms,
            timeout_s=m.timeout.seconds or d.timeout.seconds or 10.0,
            timeout_attempts=m.timeout.attempts or d.timeout.attempts or 3,
            timeout_prompt=m.timeout.prompt or d.timeout.prompt,
            timeout_destination=_resolve_dest(t_dest, name, "timeout destination", spec.menus, departments, transfer_context),
            invalid_attempts=m.invalid.attempts or d.invalid.attempts or 3,
            invalid_prompt=m.invalid.prompt or d.invalid.prompt,
            invalid_destination=_resolve_dest(i_dest, name, "invalid destination", spec.menus, departments, transfer_context),
            direct_dial=dd,
        )
    tree = MenuTree(
        menus=resolved,
        entry=spec.entry,
        tz=tz,
        hours=spec.business_hours,
        holidays=frozenset(spec.holidays),
        operator=operator,
        operator_digit=spec.operator_digit,
        departments=dict(departments),
        transfer_context=transfer_context,
    )
    _check_exits(tree)
    return tree


def _check_exits(tree: MenuTree) -> None:
    """Refuse menus a caller can never leave, and timeout/invalid chains that cycle forever."""

    def edges(m: ResolvedMenu) -> list[Any]:
        out: list[Any] = [*m.options.values(), m.timeout_destination, m.invalid_destination]
        if tree.operator_digit is not None and tree.operator_digit not in m.options:
            out.append(OperatorAction(action="operator"))
        return out

    def is_exit(a: Any) -> bool:
        if isinstance(a, OperatorAction):
            return tree.operator is not None and isinstance(tree.operator, EXITS) and not isinstance(tree.operator, OperatorAction)
        return isinstance(a, EXITS)

    can_exit = {name for name, m in tree.menus.items() if m.direct_dial is not None or any(is_exit(a) for a in edges(m))}
    changed = True
    while changed:
        changed = False
        for name, m in tree.menus.items():
            if name in can_exit:
                continue
            targets = [a.menu for a in edges(m) if isinstance(a, GotoMenu | LanguageAction)]
            if isinstance(tree.operator, GotoMenu):
                targets.append(tree.operator.menu)
            if any(t in can_exit for t in targets):
                can_exit.add(name)
                changed = True
    for name in tree.menus:
        if name not in can_exit:
            raise MenuConfigError(
                f"menu {name!r}: loop with no exit (no path from it reaches a transfer, the agent or a hang-up)",
                menu=name,
            )
    for kind in ("timeout", "invalid"):
        for start in tree.menus:
            seen = [start]
            current = start
            while True:
                dest = getattr(tree.menus[current], f"{kind}_destination")
                if isinstance(dest, OperatorAction) and isinstance(tree.operator, GotoMenu):
                    dest = tree.operator
                if not isinstance(dest, GotoMenu):
                    break
                if dest.menu in seen:
                    path = " -> ".join([*seen[seen.index(dest.menu) :], dest.menu])
                    raise MenuConfigError(
                        f"menu {start!r}: {kind} destinations loop forever ({path}); end the chain with a transfer, "
                        "the agent or a hang-up",
                        menu=start,
                    )
                seen.append(dest.menu)
                current = dest.menu


class MenuStore:
    """Holds the live menu tree; ``reload()`` swaps it only when the new file is valid.

    The service calls ``reload()`` on SIGHUP or from the HTTP API. Calls already in a menu keep the
    tree they started with (the engine holds its own reference), so a reload never changes a menu
    under a caller's finger.
    """

    def __init__(self, path: str | Path | None = None, **resolve_kwargs: Any) -> None:
        self.path = Path(path) if path else DEFAULT_MENU_FILE
        self._kwargs = resolve_kwargs
        self._lock = threading.Lock()
        self._tree = load_menu_file(self.path, **resolve_kwargs)
        self.reloads = 0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> MenuStore:
        return cls(
            settings.ivr.menu_file,
            departments=settings.hotel.departments,
            front_desk_extension=settings.hotel.front_desk_extension,
            timezone=settings.hotel.timezone,
            transfer_context=getattr(settings.ivr, "transfer_context", None),
            languages=settings.speech.languages(),
        )

    @property
    def tree(self) -> MenuTree:
        return self._tree

    def reload(self) -> MenuTree:
        """Load the file again; on error keep the old tree, remember the error and raise it."""
        try:
            tree = load_menu_file(self.path, **self._kwargs)
        except MenuConfigError as exc:
            self.last_error = str(exc)
            raise
        with self._lock:
            self._tree = tree
            self.reloads += 1
            self.last_error = None
        return tree
