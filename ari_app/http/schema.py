"""Route schemas: each handler declares its query, body and response models once, and the same
models validate the request and describe the route in the OpenAPI document.

Bad input answers ``422`` with a JSON body naming each wrong field; nothing is half-done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    tags: tuple[str, ...] = ()
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_status: int = 200
    response_type: str = "application/json"
    errors: tuple[int, ...] = (401, 422)
    extra_responses: dict[int, str] = field(default_factory=dict)


DOC_ATTR = "__route_doc__"


def route(summary: str, **kwargs: Any) -> Callable[[F], F]:
    """Attach a :class:`RouteDoc` to a handler (read by the OpenAPI generator)."""

    def mark(handler: F) -> F:
        setattr(handler, DOC_ATTR, RouteDoc(summary, **kwargs))
        return handler

    return mark


def doc_of(handler: Any) -> RouteDoc | None:
    return getattr(handler, DOC_ATTR, None)


class ErrorBody(BaseModel):
    error: str
    status: int
    details: list[dict[str, Any]] | None = None


def invalid(exc: ValidationError, where: str) -> web.HTTPUnprocessableEntity:
    details = [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = details[0] if details else {"field": where, "message": "invalid"}
    message = f"{where} {first['field']}: {first['message']}" if details else f"invalid {where}"
    body = {"error": message, "status": 422, "details": details}
    return web.HTTPUnprocessableEntity(text=json.dumps(body), content_type="application/json")


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate({k: request.query.getone(k) for k in request.query})
    except ValidationError as exc:
        raise invalid(exc, "query") from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # nested thousands deep: not JSON we take
        body = {"error": "the request body must be JSON", "status": 400}
        raise web.HTTPBadRequest(text=json.dumps(body), content_type="application/json") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc, "body") from None
