"""The HTTP edge in-process: request ids, the error envelope, body limits, CORS, rate limits,
metrics and access logs, each through the real middleware stack."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import orjson
import pytest
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.app import create_app
from api.routing import Call, NoModel, Router
from core.models import Role
from core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from roomcast.factory import Services, build_services
from tests.support.logs import json_log_lines

MakeClient = Callable[..., Any]


async def echo(request: Request) -> Response:
    body = await request.body()
    logging.getLogger("roomcast.test").info("echoing %d bytes", len(body))
    return JSONResponse({"size": len(body)})


async def thing(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["thing_id"]})


async def explode(request: Request) -> Response:
    raise RuntimeError("a bug")


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int


declared = Router(prefix="/test", tags=["test"])


@declared.post("/declared", body=ThingIn, response=ThingIn, auth="none")
async def create_thing(call: Call[ThingIn, NoModel]) -> ThingIn:
    """A declared endpoint, parsed and validated like every API route."""
    return call.body


EXTRA_ROUTES: list[BaseRoute] = [
    Route("/test/echo", echo, methods=["POST"]),
    Route("/test/things/{thing_id}", thing, methods=["GET"]),
    Route("/test/explode", explode, methods=["GET"]),
    *(endpoint.route() for endpoint in declared.endpoints),
]


@pytest.fixture
async def make_client(make_settings: Any) -> AsyncIterator[MakeClient]:
    """Build services on the given settings and an httpx client on a REST app over them."""
    built: list[Services] = []

    @asynccontextmanager
    async def make(
        *, limiter: Any = None, **overrides: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
        services = build_services(make_settings(**overrides))
        built.append(services)
        await services.start()
        if limiter is not None:
            # A limiter, or a function of the services making one (to reach their Redis).
            made = limiter(services) if callable(limiter) else limiter
            services.ctx.extras["rate_limiter"] = made
        app = create_app(services.ctx, extra_routes=EXTRA_ROUTES)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, services

    yield make
    for services in built:
        await services.close()


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    return error  # type: ignore[no-any-return]


async def test_request_id_is_generated_echoed_or_replaced(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-abc.1"})
    assert echoed.headers["x-request-id"] == "trace-abc.1"
    for insane in ("x" * 200, "a b", "<script>"):
        replaced = await client.get("/health/live", headers={"X-Request-ID": insane})
        assert replaced.headers["x-request-id"] != insane
        assert len(replaced.headers["x-request-id"]) == 32


async def test_unknown_path_and_wrong_method_answer_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/v1/no-such-thing", headers={"X-Request-ID": "r-404"})
    assert assert_envelope(missing, 404, "not_found")["request_id"] == "r-404"
    wrong = await client.delete("/health/live")
    assert_envelope(wrong, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/api/v1/users/me", "GET, HEAD, PATCH, DELETE"),
    ("PUT", "/api/v1/projects", "GET, HEAD, POST"),
    ("POST", "/api/v1/projects/p1", "GET, HEAD, PATCH, DELETE"),
    ("PUT", "/api/v1/projects/p1/members/u1", "PATCH, DELETE"),
    # Two templates match this path: `.../members/search` (GET) and `.../members/{user_id}`.
    ("PUT", "/api/v1/projects/p1/members/search", "GET, HEAD, PATCH, DELETE"),
])
async def test_405_allow_names_every_method_served_on_the_path(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow
    for served in allow.split(", "):  # each one named is really served (not a 405)
        assert (await client.request(served, path)).status_code != 405, served


async def test_405_on_every_documented_path_names_its_documented_methods(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    templates = {path: {m.upper() for m in ops} for path, ops in spec["paths"].items()}
    probed = 0
    for path in templates:
        concrete = re.sub(r"{[^}]+}", "x1", path)
        # Every documented template matching this concrete path contributes its methods.
        served = set().union(*(methods for template, methods in templates.items()
                               if re.fullmatch(re.sub(r"{[^}]+}", "[^/]+", template), concrete)))
        if "GET" in served:
            served.add("HEAD")
        unserved = [m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in served]
        if not unserved:
            continue
        response = await client.request(unserved[0], concrete)
        assert response.status_code == 405, (unserved[0], concrete, response.text)
        assert set(response.headers["allow"].split(", ")) == served, concrete
        probed += 1
    assert probed >= 30


async def test_body_values_must_have_their_json_type(make_client: MakeClient) -> None:
    # Lax parsing would read "5", 5.0 and true as the integer 5 (or 1): a JSON body is strict.
    async with make_client() as (http, _):
        ok = await http.post("/test/declared", json={"name": "a", "size": 5})
        refused = [await http.post("/test/declared", json={"name": "a", "size": size})
                   for size in ("5", 5.5, True, None)]
        named = await http.post("/test/declared", json={"name": 7, "size": 1})
    assert ok.status_code == 200 and ok.json() == {"name": "a", "size": 5}
    for response in refused:
        error = assert_envelope(response, 422, "validation_error")
        assert [d["loc"] for d in error["details"]] == [["body", "size"]], error
    assert [d["loc"] for d in assert_envelope(named, 422, "validation_error")["details"]] == [
        ["body", "name"]]


async def test_malformed_json_and_invalid_fields_answer_in_the_envelope(
    make_client: MakeClient,
) -> None:
    async with make_client() as (http, _):
        ok = await http.post("/test/declared", json={"name": "a", "size": 1})
        malformed = await http.post("/test/declared", content=b'{"name": ',
                                    headers={"Content-Type": "application/json"})
        invalid = await http.post("/test/declared",
                                  json={"name": "a", "size": "big", "colour": "red"})
    assert ok.status_code == 200
    assert_envelope(malformed, 400, "bad_request")
    error = assert_envelope(invalid, 422, "validation_error")
    assert {tuple(d["loc"]) for d in error["details"]} == {("body", "size"), ("body", "colour")}


async def test_unexpected_error_is_a_500_envelope_and_logged(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    async with make_client() as (http, _):
        response = await http.get("/test/explode")
    assert_envelope(response, 500, "internal")
    assert "a bug" not in response.text  # internals stay in the log
    logged = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged and logged[0].exc_info is not None


async def test_body_over_the_limit_declared_up_front(make_client: MakeClient) -> None:
    async with make_client(max_body_bytes=2048) as (http, _):
        ok = await http.post("/test/echo", content=b"x" * 2048)
        assert ok.json() == {"size": 2048}
        big = await http.post("/test/echo", content=b"x" * 2049)
    error = assert_envelope(big, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": 2048}


async def test_body_over_the_limit_while_streaming(make_client: MakeClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    async with make_client(max_body_bytes=4096) as (http, _):
        response = await http.post("/test/echo", content=chunks())
    assert "content-length" not in response.request.headers
    assert_envelope(response, 413, "payload_too_large")


async def test_upload_paths_are_left_to_their_route(make_client: MakeClient) -> None:
    async with make_client(max_body_bytes=1024) as (http, _):
        response = await http.post("/api/v1/projects/p1/uploads", content=b"z" * 5000)
    # The uploads route applies UPLOAD_MAX_BYTES itself; the generic limit stays out of it, so
    # the request reaches the route, which asks for a token first.
    assert_envelope(response, 401, "unauthorized")


async def test_cors_from_settings(make_client: MakeClient) -> None:
    origin = "http://app.example"
    async with make_client(cors_origins=[origin]) as (http, _):
        preflight = await http.options("/api/v1/openapi.json", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        simple = await http.get("/api/v1/openapi.json", headers={"Origin": origin})
        stranger = await http.get("/api/v1/openapi.json", headers={"Origin": "http://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert simple.headers["access-control-allow-origin"] == origin
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "ratelimit-remaining" in exposed
    assert "access-control-allow-origin" not in stranger.headers


def bearer(services: Services, user_id: str) -> dict[str, str]:
    issued = services.ctx.tokens.issue(sub=user_id, role=Role.MEMBER, typ="access")
    return {"Authorization": f"Bearer {issued.token}"}


def frozen_limiter() -> MemoryRateLimiter:
    # A fixed clock keeps every request of a test in one window, whatever the wall clock does.
    return MemoryRateLimiter(clock=lambda: 1_000_040.0)


async def test_ip_limit_headers_then_429(make_client: MakeClient) -> None:
    async with make_client(limiter=frozen_limiter(), rate_limit_ip_per_minute=3) as (http, _):
        answers = [await http.get("/api/v1/openapi.json") for _ in range(3)]
        refused = await http.get("/api/v1/no-such-thing")
        health = await http.get("/health/live")
        metrics = await http.get("/metrics")
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in answers)
    assert answers[0].headers["ratelimit-reset"] == "40"
    error = assert_envelope(refused, 429, "rate_limited")
    assert error["details"]["limit"] == 3
    assert refused.headers["retry-after"] == "40"
    assert refused.headers["ratelimit-remaining"] == "0"
    # Health and metrics are never limited, so probes and scrapes keep working.
    assert health.status_code == 200 and "ratelimit-limit" not in health.headers
    assert metrics.status_code == 200


async def test_user_limit_applies_per_valid_bearer(make_client: MakeClient) -> None:
    async with make_client(limiter=frozen_limiter(), rate_limit_ip_per_minute=100,
                           rate_limit_user_per_minute=2) as (http, services):
        alice = bearer(services, "alice")
        bob = bearer(services, "bob")
        forged = {"Authorization": "Bearer not.a.token"}
        first = await http.get("/test/things/1", headers=alice)
        await http.get("/test/things/1", headers=alice)
        refused = await http.get("/test/things/1", headers=alice)
        other_user = await http.get("/test/things/1", headers=bob)
        anonymous = await http.get("/test/things/1")
        bad_tokens = [await http.get("/test/things/1", headers=forged) for _ in range(3)]
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert_envelope(refused, 429, "rate_limited")
    assert other_user.status_code == 200
    # Without a valid bearer only the per-IP limit counts.
    assert anonymous.status_code == 200 and anonymous.headers["ratelimit-limit"] == "100"
    assert [r.status_code for r in bad_tokens] == [200, 200, 200]


async def test_redis_limits_are_shared_between_apps(
    make_client: MakeClient, redis_proc: Any,
) -> None:
    prefix = f"test:{uuid4().hex}:"

    def redis_limiter(services: Services) -> RedisRateLimiter:
        return RedisRateLimiter(services.ctx.redis, prefix=prefix, clock=lambda: 1_000_040.0)

    settings = {"redis_url": redis_proc.url, "rate_limit_ip_per_minute": 3}
    async with make_client(limiter=redis_limiter, **settings) as (one, _), \
            make_client(limiter=redis_limiter, **settings) as (two, _):
        answers = [await one.get("/api/v1/openapi.json"), await two.get("/api/v1/openapi.json"),
                   await one.get("/api/v1/openapi.json"), await two.get("/api/v1/openapi.json")]
    # Two apps with separate clients, as two processes would be: one count in Redis.
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]


async def test_metrics_count_by_route_template(make_client: MakeClient) -> None:
    async with make_client() as (http, services):
        registry = services.ctx.extras["metrics_registry"]
        socket_metric = Counter("roomcast_test_socket_events_total", "x", registry=registry)
        socket_metric.inc()
        for thing_id in ("a1", "b2", "c3"):
            await http.get(f"/test/things/{thing_id}")
        await http.get("/nowhere/at/all")
        text = (await http.get("/metrics")).text
    assert ('roomcast_http_requests_total{method="GET",route="/test/things/{thing_id}",'
            'status="200"} 3.0') in text
    assert 'route="unmatched",status="404"' in text
    assert "a1" not in text
    assert "roomcast_http_request_duration_seconds_bucket" in text
    assert "roomcast_http_requests_in_progress" in text
    # Whatever else registered in the app's registry is served too.
    assert "roomcast_test_socket_events_total 1.0" in text


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    with json_log_lines() as stream:
        yield stream


async def test_access_log_and_handler_logs_carry_the_request_id(
    make_client: MakeClient, json_lines: io.StringIO,
) -> None:
    async with make_client() as (http, _):
        await http.post("/test/echo", content=b"hi", headers={"X-Request-ID": "req-log-1"})
    lines = [orjson.loads(x) for x in json_lines.getvalue().splitlines()]
    mine = [x for x in lines if x.get("request_id") == "req-log-1"]
    handler_line = next(x for x in mine if x["logger"] == "roomcast.test")
    assert handler_line["message"] == "echoing 2 bytes"
    access = next(x for x in mine if x["logger"] == "roomcast.access")
    assert access["method"] == "POST"
    assert access["route"] == "/test/echo"
    assert access["status"] == 200
    assert access["duration_ms"] >= 0
