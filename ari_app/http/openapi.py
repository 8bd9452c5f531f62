"""The OpenAPI 3.1 document of the voice API, generated from the routes themselves.

Each handler's :func:`ari_app.http.schema.route` names its pydantic models; the document is built
with ``apispec`` from the app's router (so a route can't be missing from it) and those models' JSON
schemas (so the document can't disagree with the validation). OpenAPI 3.1 because pydantic writes
JSON Schema 2020-12, which 3.1 uses as is.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from apispec import APISpec
from pydantic import BaseModel

from ari_app import __version__
from ari_app.http.schema import ErrorBody, RouteDoc, doc_of

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{([^}/:]+)(?::[^}]*)?\}")
_REASONS = {400: "bad request", 401: "no valid token", 403: "refused", 404: "not found", 409: "conflict",
            415: "JSON body expected", 416: "range not satisfiable", 422: "invalid input",
            429: "rate limited", 503: "not available on this instance"}
SPEC: web.AppKey[dict[str, Any]] = web.AppKey("openapi_spec", dict)


def _schema(spec: APISpec, model: type[BaseModel], seen: set[str]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    for name, sub in schema.pop("$defs", {}).items():
        if name not in seen:
            seen.add(name)
            spec.components.schema(name, sub)
    if model.__name__ not in seen:
        seen.add(model.__name__)
        spec.components.schema(model.__name__, schema)
    return {"$ref": REF.format(model=model.__name__)}


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        out.append(param)
    return out


def _operation(spec: APISpec, doc: RouteDoc, path: str, seen: set[str]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": doc.summary, "tags": list(doc.tags), "responses": {}}
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in _PARAM.findall(path)]
    if doc.query is not None:
        params += _query_params(doc.query)
    if params:
        op["parameters"] = params
    if doc.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _schema(spec, doc.body, seen)}}}
    ok: dict[str, Any] = {"description": "success"}
    if doc.response is not None:
        ok["content"] = {doc.response_type: {"schema": _schema(spec, doc.response, seen)}}
    elif doc.response_type != "application/json":
        ok["content"] = {doc.response_type: {"schema": {"type": "string", "format": "binary"}}}
    op["responses"][str(doc.response_status)] = ok
    for status, text in doc.extra_responses.items():
        op["responses"][str(status)] = {"description": text}
    error = _schema(spec, ErrorBody, seen)
    for status in doc.errors:
        op["responses"][str(status)] = {"description": _REASONS.get(status, "error"),
                                        "content": {"application/json": {"schema": error}}}
    return op


def build_spec(app: web.Application) -> dict[str, Any]:
    spec = APISpec(
        title="hotel-operator voice API",
        version=__version__,
        openapi_version="3.1.0",
        info={"description": "Sessions, outbound calls, recordings and analytics of the hotel's voice operator. "
                             "Send `Authorization: Bearer <token>` (a token from http.api_tokens)."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic",
                                              "description": "any user name, the token as password (browsers)"})
    seen: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        doc = doc_of(route.handler)
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if doc is None or not path or route.method == "HEAD":
            continue
        paths.setdefault(path, {})[route.method.lower()] = _operation(spec, doc, path, seen)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    out = spec.to_dict()
    out["security"] = [{"bearer": []}, {"basic": []}]
    return out


async def openapi_json(request: web.Request) -> web.Response:
    cache = request.app[SPEC]  # built on first use: by then every part has added its routes
    if not cache:
        cache.update(build_spec(request.app))
    return web.json_response(cache)


def install(app: web.Application) -> None:
    app[SPEC] = {}
    app.router.add_get("/voice/openapi.json", openapi_json)
