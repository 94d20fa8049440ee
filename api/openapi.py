"""The OpenAPI document, generated from the endpoint declarations themselves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.errors import ErrorEnvelope
from api.routing import Endpoint

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
DEFAULT_ERRORS = {400, 422, 500}
Refs = dict[Any, dict[str, Any]]
STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found", 410: "Gone",
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
    422: "Validation error", 428: "Precondition required", 429: "Too many requests",
    500: "Internal error", 503: "Service unavailable",
}


def build_openapi(endpoints: Iterable[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    endpoints = [e for e in endpoints if e.include_in_schema]
    models: set[type[BaseModel]] = {ErrorEnvelope}
    for e in endpoints:
        models.update(m for m in (e.body, e.response) if m is not None)
    mapping, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    # Pydantic names the components (`Page[Task]` becomes `Page_Task_`, and same-named models
    # from two modules are qualified): refer to them by the names it chose.
    refs: Refs = {model: ref for (model, _), ref in mapping.items()}
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        path = PATH_PARAM.sub(r"{\1}", e.path)
        paths.setdefault(path, {})[e.method.lower()] = _operation(e, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _ref(model: type[BaseModel], refs: Refs) -> dict[str, str]:
    return dict(refs[model])


def _operation(e: Endpoint, refs: Refs) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": e.handler.__name__,
        "summary": e.summary,
        "tags": list(e.tags),
        "parameters": _parameters(e),
        "responses": _responses(e, refs),
    }
    if e.description and e.description != e.summary:
        op["description"] = e.description
    if e.auth != "none":
        op["security"] = [{"bearer": []}, {"apiKey": []}]
    if e.body is not None:
        # An empty body parses as {}: the body is required only if the model needs a field.
        op["requestBody"] = {
            "required": bool(e.body.model_json_schema().get("required")),
            "content": {"application/json": {"schema": _ref(e.body, refs)}},
        }
    elif e.raw_body is not None:
        schema: dict[str, Any] = {"type": "string", "format": "binary"}
        if e.raw_body == "multipart/form-data":
            schema = {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        op["requestBody"] = {"required": True, "content": {e.raw_body: {"schema": schema}}}
    return op


def _parameters(e: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAM.findall(e.path)
    ]
    if e.query is not None:
        schema = e.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _responses(e: Endpoint, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": STATUS_TEXT.get(e.status, "OK")}
    if e.response is not None:
        ok["content"] = {"application/json": {"schema": _ref(e.response, refs)}}
    elif e.response_media is not None:
        ok["content"] = {e.response_media: {"schema": {"type": "string"}}}
    responses[str(e.status)] = ok
    for status in e.also_ok:
        responses[str(status)] = {**ok, "description": STATUS_TEXT.get(status, "OK")}
    errors = set(e.errors) | DEFAULT_ERRORS
    if e.auth != "none":
        errors |= {401, 429}
    if e.auth == "admin":
        errors.add(403)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": _ref(ErrorEnvelope, refs)}},
        }
    return responses
