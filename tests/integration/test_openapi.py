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
# and to check every answer against the document. The long form (`--long`) makes a few
# thousand requests in all.
MAX_EXAMPLES = 5
LONG_EXAMPLES = 40
# Who calls: every role, on the same real ids.
ROLES = ("admin", "head", "member", "outsider", "anonymous")
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


async def _callers(services: Services, project_ids: list[str]) -> dict[str, dict[str, str]]:
    """A user in each role (head and member of the seeded projects), made afresh for each
    operation, so an example that deletes or logs out its caller spoils only its own operation."""
    stores = services.ctx.stores
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES[:-1]:
        kind = Role.ADMIN if role == "admin" else Role.MEMBER
        user = await stores.users.create(email=f"fuzz-{new_id()}@example.com", name="Fuzz",
                                         password_hash=None, role=kind)
        if role in ("head", "member"):
            for project_id in project_ids:
                await stores.projects.add_member(project_id, user.id, ProjectRole(role))
        token = services.ctx.tokens.issue(sub=user.id, role=kind, typ="access").token
        headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


async def _operation_world(services: Services, data: dict[str, str]
                           ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    seeded = {**await _seed(services), **data}
    return seeded, await _callers(services, [seeded["project_id"], data["data_project_id"]])


class QueuedOnly:
    """Takes jobs without running them: the fuzzer checks the answers of the routes that start
    jobs, and an in-process job would outlive the request's event loop."""

    async def enqueue(self, kind: str, job_id: str) -> None:
        return None


def check_response(case: Any, response: Any) -> None:
    text = response.content[:300].decode(errors="replace")  # a picture is not text
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {text}"
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


async def _seed_data(services: Services) -> dict[str, str]:
    """An upload, its dataset, a k-means analysis and its model, made through the API once
    (the jobs run in this loop), for the routes that take their ids."""
    stores = services.ctx.stores
    head = await stores.users.create(email=f"data-{new_id()}@example.com", name="Data",
                                     password_hash=None)
    project = await stores.projects.create(name="Data", owner_id=head.id)
    token = services.ctx.tokens.issue(sub=head.id, role=head.role, typ="access").token
    auth = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=create_app(services.ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as http:
        points = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i % 7) for i in range(40))
        sent = (await http.post(f"/api/v1/projects/{project.id}/uploads",
                                files={"file": ("p.csv", points)})).json()
        ingest = await _finished(http, sent["job_id"])
        started = (await http.post(f"/api/v1/datasets/{ingest['result']['dataset_id']}/analyses",
                                   json={"algorithm": "kmeans", "k": 2})).json()
        analysis = await _finished(http, started["job_id"])
    return {"data_project_id": project.id, "upload_id": sent["upload"]["id"],
            "dataset_id": ingest["result"]["dataset_id"], "job_id": started["job_id"],
            "model_id": analysis["result"]["model_id"], "name": "clusters.png"}


async def _finished(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    for _ in range(600):  # bounded: 30 s
        job: dict[str, Any] = (await http.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            assert job["status"] == "succeeded", job
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


def cases_for(operation: Any, seeded: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, on made-up ids and (where the path takes them) real ones."""
    names = set(PATH_PARAM.findall(operation.path))
    real = {name: value for name, value in seeded.items() if name in names}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if real:
        strategies += [operation.as_strategy(mode, path_parameters=real)
                       for mode in GenerationMode]
    return st.one_of(strategies)


def valid_on_real_ids(operation: Any, seeded: dict[str, str]) -> st.SearchStrategy[Any]:
    names = set(PATH_PARAM.findall(operation.path))
    real = {name: value for name, value in seeded.items() if name in names}
    return operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real or None)


@pytest.mark.timeout(1800)
def test_fuzz_finds_no_server_error_and_only_enveloped_errors(
    fuzz_services: Services, long_form: bool,
) -> None:
    app = create_app(fuzz_services.ctx)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    examples = LONG_EXAMPLES if long_form else MAX_EXAMPLES
    data = asyncio.run(_seed_data(fuzz_services))
    fuzz_services.ctx.jobs = QueuedOnly()
    succeeded: set[str] = set()
    answers = 0
    roles_seen: set[str] = set()
    current: dict[str, dict[str, str]] = {}  # this operation's callers, by role

    for operation in operations:
        # Seeded afresh per operation: a DELETE among the examples must not starve the next.
        seeded, callers = asyncio.run(_operation_world(fuzz_services, data))
        current.clear()
        current.update(callers)

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases_for(operation, seeded), role=st.sampled_from(ROLES))
        def run(case: Any, role: str) -> None:
            nonlocal answers
            headers = current[role]
            response = case.call(headers=headers)
            check_response(case, response)
            case.validate_response(response, checks=CHECKS, headers=headers)
            answers += 1
            roles_seen.add(role)
            if response.status_code < 400:
                succeeded.add(case.operation.label)

        run()

        # And valid requests on the real ids as the project's head, so that success bodies
        # are checked on every route that can succeed, whatever the draws above.
        @settings(max_examples=2, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=valid_on_real_ids(operation, seeded))
        def run_valid(case: Any) -> None:
            nonlocal answers
            headers = current["admin" if "/admin/" in case.path else "head"]
            response = case.call(headers=headers)
            check_response(case, response)
            case.validate_response(response, checks=CHECKS, headers=headers)
            answers += 1
            if response.status_code < 400:
                succeeded.add(case.operation.label)

        run_valid()
    assert answers >= examples * len(operations) // 2
    assert roles_seen == set(ROLES)
    # Success bodies were checked too, on the domain routes with real ids among them.
    assert {"GET /api/v1/projects/{project_id}", "GET /api/v1/tasks/{task_id}",
            "POST /api/v1/projects", "GET /api/v1/datasets/{dataset_id}",
            "GET /api/v1/models/{model_id}"} <= succeeded, sorted(succeeded)
