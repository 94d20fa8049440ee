"""Declaring endpoints once: the handler, its inputs and outputs, and who may call it.

The same declaration drives request parsing, authentication and the OpenAPI document, so the
document cannot drift from what the routes do.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from api.auth import Principal, authenticate
from api.context import AppContext, context_of
from core.errors import BadRequest, Forbidden, ValidationFailed
from core.models import Role

B = TypeVar("B", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)
Auth = Literal["none", "user", "admin"]
# Who an endpoint serves. public: anyone; user: any signed-in user, on their own things;
# admin: admins; member / head: members (heads) of the project the path's id belongs to,
# admins acting as heads, anyone else answered 404; owner: the one user the path's id
# belongs to, anyone else answered 404. tests/integration/test_authz_matrix.py checks every
# endpoint against what it declares.
Access = Literal["public", "user", "admin", "member", "head", "owner"]
# Path parameters that name something of a project: an endpoint that has one serves members.
PROJECT_SCOPED = frozenset({
    "project_id", "meeting_id", "series_id", "task_id", "upload_id", "dataset_id", "job_id",
    "model_id", "invitation_id", "document_id", "visualization_id",
})


class NoModel(BaseModel):
    pass


@dataclass
class Call(Generic[B, Q]):
    """Everything a handler receives, already parsed and checked."""

    request: Request
    ctx: AppContext
    principal: Principal | None
    body: B
    query: Q
    path: dict[str, str]

    @property
    def user(self) -> Principal:
        assert self.principal is not None, "endpoint declared auth='none'"
        return self.principal


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: Sequence[str]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: Auth
    errors: Sequence[int]
    raw_body: str | None = None  # a content type the handler reads itself (uploads)
    response_media: str | None = None  # a non-JSON response (downloads, metrics, docs)
    include_in_schema: bool = True
    description: str = ""
    declared_access: Access | None = None
    # Other success statuses the endpoint answers with the same body (201 or 200, say).
    also_ok: Sequence[int] = ()

    @property
    def access(self) -> Access:
        """What the endpoint declared, else what its authentication and path imply."""
        if self.declared_access is not None:
            return self.declared_access
        if self.auth == "none":
            return "public"
        if self.auth == "admin":
            return "admin"
        names = {part[1:-1].split(":")[0] for part in self.path.split("/")
                 if part.startswith("{") and part.endswith("}")}
        return "member" if names & PROJECT_SCOPED else "user"

    def route(self, siblings: Sequence[BaseRoute] = ()) -> Route:
        """The Starlette route; `siblings` are the app's routes, so that a 405 names every
        method served on the path."""
        return EndpointRoute(self.path, self._asgi, methods=[self.method],
                             name=self.handler.__name__, siblings=siblings)

    async def _asgi(self, request: Request) -> Response:
        ctx = context_of(request)
        principal = None
        if self.auth != "none":
            principal = await authenticate(request, ctx)
            if self.auth == "admin" and principal.role != Role.ADMIN:
                raise Forbidden("this action needs the admin role")
        body = await self._parse_body(request) if self.body is not None else NoModel()
        query = (
            _validate(self.query, dict(request.query_params), "query")
            if self.query
            else NoModel()
        )
        call: Call[Any, Any] = Call(request, ctx, principal, body, query, dict(request.path_params))
        result = await self.handler(call)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=self.status if self.status != 200 else 204)
        return json_response(result, self.status)

    async def _parse_body(self, request: Request) -> BaseModel:
        assert self.body is not None
        raw = await request.body() or b"{}"
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("the body is not valid JSON", details={"position": exc.pos}) from exc
        # Strict JSON: a value must have its JSON type (`0` or "yes" is not a boolean, "5" not
        # a number), while enums, dates and times are still read from their JSON strings.
        return _validate(self.body, raw, "body", json=True)


METHOD_RANK = {m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))}


class EndpointRoute(Route):
    """One method of a path. Starlette answers a wrong method with the methods of the first
    route whose path matches; this one lists those of every route matching the path."""

    def __init__(self, *args: Any, siblings: Sequence[BaseRoute] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.siblings = siblings

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allow = ", ".join(allowed_methods([self, *self.siblings], scope))
            raise HTTPException(status_code=405, headers={"Allow": allow})
        await super().handle(scope, receive, send)


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods that some route serves on the scope's path, in a fixed order."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods, key=lambda m: (METHOD_RANK.get(m, len(METHOD_RANK)), m))


def _validate(model: type[BaseModel], data: Any, where: str, *, json: bool = False) -> BaseModel:
    try:
        if json:
            return model.model_validate_json(data, strict=True)
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(details=field_errors(exc, where)) from exc


def field_errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {"loc": [where, *err["loc"]], "type": err["type"], "message": err["msg"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def json_response(
    result: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if isinstance(result, BaseModel):
        content = result.model_dump_json(by_alias=True).encode()
    else:
        content = orjson.dumps(result)
    return Response(content, status_code=status, media_type="application/json", headers=headers)


@dataclass
class Router:
    """Collects endpoints; `api.app` mounts every module's router."""

    prefix: str = "/api/v1"
    tags: Sequence[str] = ()
    endpoints: list[Endpoint] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: Auth = "user",
        errors: Sequence[int] = (),
        summary: str = "",
        raw_body: str | None = None,
        response_media: str | None = None,
        include_in_schema: bool = True,
        access: Access | None = None,
        also_ok: Sequence[int] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            doc = inspect.getdoc(handler) or ""
            self.endpoints.append(
                Endpoint(
                    method=method, path=self.prefix + path, handler=handler,
                    summary=summary or doc.split("\n", 1)[0], description=doc,
                    tags=self.tags, body=body, query=query, response=response, status=status,
                    auth=auth, errors=errors, raw_body=raw_body, response_media=response_media,
                    include_in_schema=include_in_schema, declared_access=access,
                    also_ok=also_ok,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", path, **kw)
