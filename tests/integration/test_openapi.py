"""The OpenAPI document tells the truth: it is valid OpenAPI 3.1, it names every route the app
serves, the docs page shows each operation, and a fuzzer driven by it finds no server error
and no error outside the envelope."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
from starlette.applications import Starlette
from starlette.routing import Route

from api.app import create_app
from core.ids import new_id
from core.models import Role
from core.settings import Settings
from roomcast.factory import Services, build_services

CONVERTER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")


async def test_document_is_valid_openapi_31(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)


def served_operations(app: Starlette) -> set[tuple[str, str]]:
    operations = set()
    for route in app.routes:
        assert isinstance(route, Route), f"unexpected route type {route!r}"
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET by itself
                operations.add((method.lower(), CONVERTER.sub(r"{\1}", route.path)))
    return operations


async def test_every_route_is_documented(services: Services, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    documented = {(m, path) for path, ops in spec["paths"].items() for m in ops}
    served = served_operations(create_app(services.ctx))
    assert ("get", "/health/ready") in served  # the comparison below is not vacuous
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented operations that nothing serves"


async def test_docs_page_shows_every_operation(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "http://" not in page.text.replace(
        'href="/api', "")  # self-contained: no external assets
    for path, ops in spec["paths"].items():
        assert f"<code>{html.escape(path)}</code>" in page.text
        for op in ops.values():
            assert f'id="op-{op["operationId"]}"' in page.text
    for schema_name in spec["components"]["schemas"]:
        assert f'id="schema-{schema_name}"' in page.text


# --- fuzzing -------------------------------------------------------------------------------

MAX_EXAMPLES = 6  # per operation: enough to exercise bad inputs, cheap enough for every run


@pytest.fixture
def fuzz_services(tmp_path: Path) -> Iterator[Services]:
    # High limits: the fuzzer must reach the routes, not the rate limiter.
    built = build_services(Settings(
        env="test", data_dir=tmp_path / "data", log_json=False, _env_file=None,  # type: ignore[call-arg]
        rate_limit_ip_per_minute=1_000_000, rate_limit_user_per_minute=1_000_000,
    ))
    asyncio.run(built.start())
    try:
        yield built
    finally:
        asyncio.run(built.close())


def admin_bearer(services: Services) -> dict[str, str]:
    """A fresh admin per example, so an example that deletes or logs out its caller does not
    turn every later one into a 401."""
    user = asyncio.run(services.ctx.stores.users.create(
        email=f"fuzz-{new_id()}@example.com", name="Fuzz", password_hash=None, role=Role.ADMIN,
    ))
    issued = services.ctx.tokens.issue(sub=user.id, role=Role.ADMIN, typ="access")
    return {"Authorization": f"Bearer {issued.token}"}


def check_response(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    documented = set(case.operation.definition.raw.get("responses", {}))
    assert str(response.status_code) in documented, f"undocumented status: {where}"
    if response.status_code >= 400 and case.method != "HEAD":
        body = response.json()
        assert set(body) == {"error"}, where
        assert set(body["error"]) == {"code", "message", "details", "request_id"}, where
        assert isinstance(body["error"]["code"], str), where
        assert body["error"]["request_id"] == header(response, "x-request-id"), where


def header(response: Any, name: str) -> str:
    values = {k.lower(): v for k, v in response.headers.items()}[name]
    return values[0] if isinstance(values, list) else str(values)


@pytest.mark.timeout(300)
def test_fuzz_finds_no_server_error_and_only_enveloped_errors(
    fuzz_services: Services,
) -> None:
    app = create_app(fuzz_services.ctx)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5

    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), auth=st.booleans())
        def run(case: Any, auth: bool) -> None:
            headers = admin_bearer(fuzz_services) if auth else {}
            check_response(case, case.call(headers=headers))

        run()
