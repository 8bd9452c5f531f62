"""Request validation against Asterisk's ARI API description (Swagger 1.2, ``api-docs/*.json``).

The stand-in refuses whatever the description does not allow: an unknown path (404), a method the
path does not have (405), an unknown query parameter, a missing required one, a value outside the
allowed list or range, a non-integer where an int is declared, a non-boolean where a boolean is
(all 400). Real Asterisk silently ignores unknown parameters; the stand-in is deliberately stricter,
because a misspelt parameter that Asterisk ignores is a bug we want to see in tests.

Where Asterisk's ``api-docs`` folder is absent (it lives outside the repository, in
``../shared/asterisk/api-docs``), the stand-in says so in a log line and validates against the
project's own short description of the endpoints it uses (``ari-endpoints.json`` next to this
module, written from the records), in the same terms.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("ari_app.standin")

#: query parameters any ARI request may carry regardless of the operation (authentication)
GLOBAL_PARAMS = frozenset({"api_key"})

PROJECT_DESCRIPTION = Path(__file__).with_name("ari-endpoints.json")


def default_api_docs_dir() -> Path:
    """``<repo>/../shared/asterisk/api-docs`` (the repo being the folder holding ``ari_app``)."""
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "asterisk" / "api-docs"


class SpecError(Exception):
    """A request the API description does not allow; ``status`` and ``message`` are the reply."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    param_type: str = "query"  # query | path | body
    data_type: str = "string"
    required: bool = False
    allow_multiple: bool = False
    values: tuple[str, ...] | None = None  # allowableValues LIST
    minimum: float | None = None  # allowableValues RANGE
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    resource: str
    nickname: str
    method: str
    path: str  # template relative to /ari, e.g. /channels/{channelId}/answer
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    websocket: bool = False

    @property
    def key(self) -> str:
        return f"{self.resource}.{self.nickname}"


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    literal_segments: int


def _compile(path: str) -> _Template:
    names: list[str] = []
    parts = []
    literal = 0
    for seg in path.strip("/").split("/"):
        m = re.fullmatch(r"\{(\w+)\}", seg)
        if m:
            names.append(m.group(1))
            parts.append(r"([^/]+)")
        else:
            literal += 1
            parts.append(re.escape(seg))
    return _Template(path, re.compile("^/" + "/".join(parts) + "$"), tuple(names), literal)


def _param_from_swagger(p: Mapping[str, Any]) -> ParamSpec:
    allowable = p.get("allowableValues") or {}
    values: tuple[str, ...] | None = None
    minimum = maximum = None
    if allowable.get("valueType") == "LIST":
        values = tuple(str(v) for v in allowable.get("values", []))
    elif allowable.get("valueType") == "RANGE":
        minimum = allowable.get("min")
        maximum = allowable.get("max")
    return ParamSpec(
        name=str(p["name"]),
        param_type=str(p.get("paramType", "query")),
        data_type=str(p.get("dataType", "string")),
        required=bool(p.get("required", False)),
        allow_multiple=bool(p.get("allowMultiple", False)),
        values=values,
        minimum=minimum,
        maximum=maximum,
    )


def _param_from_project(name: str, p: Mapping[str, Any]) -> ParamSpec:
    return ParamSpec(
        name=name,
        param_type=str(p.get("in", "query")),
        data_type=str(p.get("type", "string")),
        required=bool(p.get("required", False)),
        allow_multiple=bool(p.get("multiple", False)),
        values=tuple(p["values"]) if "values" in p else None,
        minimum=p.get("min"),
        maximum=p.get("max"),
    )


class ApiSpec:
    """The operations of one API description, with path matching and parameter validation."""

    def __init__(self, operations: Iterable[Operation], source: str) -> None:
        self.operations = list(operations)
        self.source = source
        self.by_key: dict[str, Operation] = {op.key: op for op in self.operations}
        templates: dict[str, _Template] = {}
        self._ops_by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            templates.setdefault(op.path, _compile(op.path))
            self._ops_by_path.setdefault(op.path, {})[op.method] = op
        # literal segments beat parameters: /channels/externalMedia before /channels/{channelId}
        self._templates = sorted(templates.values(), key=lambda t: (-t.literal_segments, t.path))

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_api_docs(cls, folder: Path) -> ApiSpec:
        ops: list[Operation] = []
        files = sorted(p for p in folder.glob("*.json") if p.name != "resources.json")
        if not files:
            raise FileNotFoundError(f"no ARI API description files in {folder}")
        for file in files:
            doc = json.loads(file.read_text(encoding="utf-8"))
            resource = file.stem
            for api in doc.get("apis", []):
                for op in api.get("operations", []):
                    params = {p["name"]: _param_from_swagger(p) for p in op.get("parameters", [])}
                    ops.append(
                        Operation(
                            resource=resource,
                            nickname=str(op["nickname"]),
                            method=str(op["httpMethod"]).upper(),
                            path=str(api["path"]),
                            params=params,
                            websocket=op.get("upgrade") == "websocket",
                        )
                    )
        return cls(ops, f"Asterisk api-docs in {folder}")

    @classmethod
    def from_project_description(cls, file: Path = PROJECT_DESCRIPTION) -> ApiSpec:
        doc = json.loads(file.read_text(encoding="utf-8"))
        ops = []
        for op in doc["operations"]:
            params = {name: _param_from_project(name, p) for name, p in op.get("params", {}).items()}
            for name in _compile(op["path"]).names:
                params.setdefault(name, ParamSpec(name=name, param_type="path", required=True))
            ops.append(
                Operation(
                    resource=op["resource"],
                    nickname=op["nickname"],
                    method=op["method"].upper(),
                    path=op["path"],
                    params=params,
                    websocket=bool(op.get("websocket", False)),
                )
            )
        return cls(ops, f"the project's own description {file.name} (Asterisk api-docs absent)")

    @classmethod
    def load(cls, api_docs: Path | None = None) -> ApiSpec:
        """Asterisk's api-docs from ``api_docs`` (default: ``../shared/asterisk/api-docs`` of the repo);
        where that folder is absent, log it and fall back to the project's own description."""
        folder = api_docs if api_docs is not None else default_api_docs_dir()
        if folder.is_dir() and any(folder.glob("*.json")):
            spec = cls.from_api_docs(folder)
            log.info(
                "ARI stand-in validates requests against %s (%d operations)",
                spec.source,
                len(spec.operations),
            )
            return spec
        spec = cls.from_project_description()
        log.warning(
            "ARI stand-in: Asterisk's API description not found at %s; validating against %s instead",
            folder,
            PROJECT_DESCRIPTION,
        )
        return spec

    # -- matching and validation ---------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for ``method path`` (path relative to /ari) and its path parameters."""
        method = method.upper()
        matched_any = False
        for tpl in self._templates:
            m = tpl.regex.match(path)
            if not m:
                continue
            matched_any = True
            op = self._ops_by_path[tpl.path].get(method)
            if op is not None:
                return op, {n: unquote(v) for n, v in zip(tpl.names, m.groups(), strict=True)}
        if matched_any:
            allowed = sorted(
                {m for tpl in self._templates if tpl.regex.match(path) for m in self._ops_by_path[tpl.path]}
            )
            raise SpecError(
                405, f"Method {method} not allowed for /ari{path} (allowed: {', '.join(allowed)})"
            )
        raise SpecError(404, "Resource not found")

    def validate(self, op: Operation, query: Iterable[tuple[str, str]], body: Any = None) -> dict[str, str]:
        """Check the query (and JSON body) against ``op``; return the query as a dict."""
        where = f"{op.method} /ari{op.path}"
        seen: dict[str, str] = {}
        for name, value in query:
            if name in GLOBAL_PARAMS:
                continue
            spec = op.params.get(name)
            if spec is None or spec.param_type != "query":
                allowed = (
                    ", ".join(sorted(p.name for p in op.params.values() if p.param_type == "query")) or "none"
                )
                raise SpecError(400, f"Unknown parameter '{name}' for {where} (allowed: {allowed})")
            if name in seen:
                raise SpecError(400, f"Parameter '{name}' given twice for {where}")
            self._check_value(spec, value, where)
            seen[name] = value
        body_keys: set[str] = set()
        if body is not None:
            if not isinstance(body, Mapping):
                raise SpecError(400, f"Request body for {where} must be a JSON object")
            for key, value in body.items():
                spec = op.params.get(key)
                if spec is None or spec.param_type == "path":
                    raise SpecError(400, f"Unknown field '{key}' in the request body for {where}")
                if spec.param_type == "body":
                    # each variable is a string, or {"value": string, "report_events": boolean}
                    if not isinstance(value, Mapping) or not all(
                        isinstance(v, str) or (isinstance(v, Mapping) and isinstance(v.get("value"), str))
                        for v in value.values()
                    ):
                        raise SpecError(
                            400, f"Body field '{key}' for {where} must map names to string values"
                        )
                else:
                    self._check_value(spec, str(value), where)
                body_keys.add(key)
        for spec in op.params.values():
            if not spec.required or spec.param_type == "path":
                continue
            if spec.name not in seen and spec.name not in body_keys:
                raise SpecError(400, f"Missing required parameter '{spec.name}' for {where}")
        return seen

    @staticmethod
    def _check_value(spec: ParamSpec, value: str, where: str) -> None:
        items = value.split(",") if spec.allow_multiple else [value]
        for item in items:
            if spec.required and item == "":
                raise SpecError(400, f"Parameter '{spec.name}' for {where} must not be empty")
            dt = spec.data_type
            if dt in ("int", "long"):
                try:
                    number: float = int(item)
                except ValueError:
                    raise SpecError(
                        400, f"Parameter '{spec.name}' for {where} must be an integer, got {item!r}"
                    ) from None
            elif dt == "double":
                try:
                    number = float(item)
                except ValueError:
                    raise SpecError(
                        400, f"Parameter '{spec.name}' for {where} must be a number, got {item!r}"
                    ) from None
            elif dt == "boolean":
                if item.lower() not in ("true", "false"):
                    raise SpecError(
                        400, f"Parameter '{spec.name}' for {where} must be true or false, got {item!r}"
                    )
                continue
            else:
                number = 0
            if spec.values is not None and item not in spec.values:
                raise SpecError(
                    400,
                    f"Invalid value {item!r} for parameter '{spec.name}' of {where} (allowed: {', '.join(spec.values)})",
                )
            if spec.minimum is not None and number < spec.minimum:
                raise SpecError(400, f"Parameter '{spec.name}' for {where} must be >= {spec.minimum}")
            if spec.maximum is not None and number > spec.maximum:
                raise SpecError(400, f"Parameter '{spec.name}' for {where} must be <= {spec.maximum}")
