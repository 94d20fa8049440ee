"""REST routes: system (health, metrics, the OpenAPI document and its human-readable page)."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from starlette.responses import HTMLResponse, Response

from api.context import HealthCheck
from api.metrics import registry_of, render
from api.routing import Call, NoModel, Router
from core.errors import ServiceUnavailable

log = logging.getLogger("roomcast.health")
router = Router(prefix="", tags=["system"])

# A check that cannot answer in this time counts as down: readiness must answer promptly.
HEALTH_CHECK_TIMEOUT = 2.0
API_TITLE = "Roomcast API"


class LiveOut(BaseModel):
    status: Literal["alive"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


@router.get("/health/live", response=LiveOut, auth="none")
async def health_live(call: Call[NoModel, NoModel]) -> LiveOut:
    """Liveness: answers 200 whenever the process serves requests."""
    return LiveOut(status="alive")


@router.get("/health/ready", response=ReadyOut, auth="none", errors=(503,))
async def health_ready(call: Call[NoModel, NoModel]) -> ReadyOut:
    """Readiness: checks every configured service (document store, Redis, object storage).

    503 `service_unavailable` names what is down in the message and in `details.checks`.
    """
    checks = await run_checks(call.ctx.health_checks)
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        raise ServiceUnavailable(f"not ready: {', '.join(down)} down",
                                 details={"checks": checks, "down": down})
    return ReadyOut(status="ready", checks=checks)


async def run_checks(checks: dict[str, HealthCheck]) -> dict[str, str]:
    names = list(checks)
    states = await asyncio.gather(*(_run_check(name, checks[name]) for name in names))
    return dict(zip(names, states, strict=True))


async def _run_check(name: str, check: HealthCheck) -> str:
    try:
        await asyncio.wait_for(check(), HEALTH_CHECK_TIMEOUT)
    except TimeoutError:
        log.warning("health check %s timed out", name)
        return "timeout"
    except Exception as exc:
        log.warning("health check %s failed: %s", name, exc.__class__.__name__)
        return "down"
    return "ok"


@router.get("/metrics", auth="none", response_media="text/plain")
async def metrics(call: Call[NoModel, NoModel]) -> Response:
    """Prometheus metrics in the text exposition format."""
    body, content_type = render(registry_of(call.ctx))
    return Response(body, headers={"Content-Type": content_type})


@router.get("/api/v1/openapi.json", response=OpenApiDocument, auth="none")
async def openapi_document(call: Call[NoModel, NoModel]) -> dict[str, Any]:
    """This API described as OpenAPI 3.1, generated from the route declarations."""
    return openapi_spec()


@router.get("/api/v1/docs", auth="none", response_media="text/html")
async def api_docs(call: Call[NoModel, NoModel]) -> Response:
    """A readable page of every operation, rendered from the OpenAPI document."""
    return HTMLResponse(docs_page())


@functools.cache
def openapi_spec() -> dict[str, Any]:
    # Imported here: api.app imports every route module, this one included.
    from api.app import all_endpoints
    from api.openapi import build_openapi

    return build_openapi(all_endpoints(), title=API_TITLE, version=_version())


@functools.cache
def docs_page() -> str:
    return render_docs(openapi_spec())


def _version() -> str:
    try:
        return version("roomcast")
    except PackageNotFoundError:
        return "0.0.0"


STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#222}
h2{border-bottom:2px solid #ddd;margin-top:2.5rem}section{border:1px solid #ddd;border-radius:6px;
padding:.3rem 1rem;margin:1rem 0}table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.GET{color:#06c}.POST{color:#080}
.PATCH,.PUT{color:#a60}.DELETE{color:#c00}code{background:#f4f4f4;padding:0 .2rem}
"""


def render_docs(spec: dict[str, Any]) -> str:
    """The whole page as one self-contained HTML string (no scripts, no external assets)."""
    ops_by_tag: dict[str, list[str]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            ops_by_tag.setdefault(tag, []).append(_operation_html(path, method.upper(), op))
    nav = " · ".join(f'<a href="#tag-{_e(t)}">{_e(t)}</a>' for t in ops_by_tag)
    body = [f"<h1>{_e(spec['info']['title'])} <small>{_e(spec['info']['version'])}</small></h1>",
            '<p>The machine-readable document: <a href="/api/v1/openapi.json">openapi.json'
            "</a>. Every error answers with <code>{\"error\": {code, message, details, "
            "request_id}}</code>.</p>", f"<nav>{nav} · <a href=\"#schemas\">schemas</a></nav>"]
    for tag, ops in ops_by_tag.items():
        body.append(f'<h2 id="tag-{_e(tag)}">{_e(tag)}</h2>')
        body.extend(ops)
    body.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        body.append(_schema_html(name, schema))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{_e(spec['info']['title'])}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>")


def _operation_html(path: str, method: str, op: dict[str, Any]) -> str:
    auth = "bearer token or API key" if op.get("security") else "none"
    parts = [f'<section id="op-{_e(op.get("operationId", ""))}"><h3><span class="m {method}">'
             f"{method}</span> <code>{_e(path)}</code></h3><p>{_e(op.get('summary', ''))}</p>"]
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    parts.append(f"<p>Authentication: {auth}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_type(p.get('schema', {}))}"
            "</td></tr>" for p in params)
        parts.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th>"
                     f"</tr>{rows}</table>")
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        parts.append(f"<p>Body ({_e(media)}): {_type(content.get('schema', {}))}</p>")
    rows = "".join(
        f"<tr><td>{_e(status)}</td><td>{_e(resp.get('description', ''))}</td><td>"
        + ", ".join(f"{_e(m)}: {_type(c.get('schema', {}))}"
                    for m, c in resp.get("content", {}).items())
        + "</td></tr>" for status, resp in op.get("responses", {}).items())
    parts.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table>")
    return "".join(parts) + "</section>"


def _schema_html(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_e(field)}</code></td><td>{_type(prop)}</td>"
        f"<td>{'yes' if field in required else 'no'}</td>"
        f"<td>{_e(prop.get('description', ''))}</td></tr>"
        for field, prop in schema.get("properties", {}).items())
    table = (f"<table><tr><th>field</th><th>type</th><th>required</th><th>about</th></tr>"
             f"{rows}</table>" if rows else f"<p>{_type(schema)}</p>")
    return f'<section id="schema-{_e(name)}"><h3>{_e(name)}</h3>{table}</section>'


def _type(schema: dict[str, Any]) -> str:
    """A short readable type: `string (email)`, `array of Task`, `integer | null`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_e(str(v))}</code>" for v in schema["enum"])
    if "const" in schema:
        return f"<code>{_e(str(schema['const']))}</code>"
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type(schema.get("items", {}))
    text = _e(" | ".join(kind) if isinstance(kind, list) else str(kind))
    notes = [f"{label} {schema[key]}" for key, label in CONSTRAINTS if key in schema]
    if "format" in schema:
        notes.insert(0, schema["format"])
    return f"{text} ({_e(', '.join(notes))})" if notes else text


CONSTRAINTS = (
    ("minimum", "min"), ("maximum", "max"), ("minLength", "min length"),
    ("maxLength", "max length"), ("pattern", "pattern"), ("default", "default"),
)


def _e(value: object) -> str:
    return html.escape(str(value))
