"""The OpenAPI document tells the truth: it is valid OpenAPI 3.1, it names every route the app
serves, the docs page shows each operation, and a fuzzer driven by it (valid and invalid
requests, on made-up and on real ids) finds no server error, no error outside the envelope
and no answer that differs from its documented schema."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Route

from api.app import create_app
from core.ids import new_id
from core.models import ProjectRole, Role
from core.settings import Settings
from core.store.tasks import Task
from roomcast.factory import Services, build_services

CONVERTER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")


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

# Per operation, valid and invalid requests mixed: enough to reach bad inputs on every route
# and to check every answer against the document, in about ten seconds in all.
MAX_EXAMPLES = 20
# Schemathesis' own checks of each answer against the document: no 5xx, a documented status and
# content type, a body that conforms to the schema of that status (success bodies and the error
# envelope alike), and input outside the schema refused with a 4xx.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


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


async def _seed(services: Services) -> dict[str, str]:
    """A project with a member, a meeting and a task, so that routes taking their ids answer
    with real objects (checked against the success schemas), not only with 404."""
    stores = services.ctx.stores
    head = await stores.users.create(email=f"head-{new_id()}@example.com", name="Head",
                                     password_hash=None)
    member = await stores.users.create(email=f"member-{new_id()}@example.com", name="Member",
                                       password_hash=None)
    project = await stores.projects.create(name="Fuzzed", owner_id=head.id)
    await stores.projects.add_member(project.id, member.id, ProjectRole.MEMBER)
    meeting = await stores.meetings.create(project_id=project.id, title="M", agenda="",
                                           scheduled_at=datetime.now(UTC), created_by=head.id)
    task = await stores.tasks.create(Task(project_id=project.id, title="T", created_by=head.id))
    return {"project_id": project.id, "user_id": member.id, "meeting_id": meeting.id,
            "task_id": task.id}


def cases_for(operation: Any, seeded: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, on made-up ids and (where the path takes them) real ones."""
    names = set(PATH_PARAM.findall(operation.path))
    real = {name: value for name, value in seeded.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if real:
        strategies += [operation.as_strategy(mode, path_parameters=real)
                       for mode in GenerationMode]
    return st.one_of(strategies)


@pytest.mark.timeout(300)
def test_fuzz_finds_no_server_error_and_only_enveloped_errors(
    fuzz_services: Services,
) -> None:
    app = create_app(fuzz_services.ctx)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    succeeded: set[str] = set()
    answers = 0

    for operation in operations:
        # Seeded afresh per operation: a DELETE among the examples must not starve the next.
        seeded = asyncio.run(_seed(fuzz_services))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases_for(operation, seeded), auth=st.booleans())
        def run(case: Any, auth: bool) -> None:
            nonlocal answers
            headers = admin_bearer(fuzz_services) if auth else {}
            response = case.call(headers=headers)
            check_response(case, response)
            case.validate_response(response, checks=CHECKS, headers=headers)
            answers += 1
            if response.status_code < 400:
                succeeded.add(case.operation.label)

        run()
    assert answers >= MAX_EXAMPLES * len(operations) // 2
    # Success bodies were checked too, on the domain routes with real ids among them.
    assert {"GET /api/v1/projects/{project_id}", "GET /api/v1/meetings/{meeting_id}",
            "GET /api/v1/tasks/{task_id}", "GET /api/v1/projects/{project_id}/members",
            "GET /api/v1/admin/users", "POST /api/v1/projects"} <= succeeded, sorted(succeeded)
