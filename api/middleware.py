"""Middleware around every request, outermost first. Pure ASGI, so responses stream through.

Order: request id (everything after it can log and answer with the id), access log and
metrics (they see the final status, 429 and 500 included), CORS (so browsers can read error
answers too), the last-resort error envelope, rate limits, body size.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import API_KEY_PREFIX, Principal, bearer_of
from api.context import AppContext
from api.errors import error_response, roomcast_error, store_error, unexpected_error
from api.metrics import HttpMetrics, method_label, route_template
from core.errors import PayloadTooLarge, RoomcastError, StoreFailed
from core.ids import new_id
from core.logcontext import request_id_var
from core.ratelimit import MemoryRateLimiter, RateDecision, RateLimiter, RedisRateLimiter

access_log = logging.getLogger("roomcast.access")

# An incoming id is echoed only if it is short and plain, so it cannot inject into logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Uploads and documents enforce their own, larger caps (UPLOAD_MAX_BYTES, DOCUMENT_MAX_BYTES)
# while streaming.
_UPLOAD_PATH = re.compile(r"^/api/v1/projects/[^/]+/(uploads|documents)(/|$)")
_UNLIMITED_PREFIXES = ("/health/", "/metrics")
# Path parameters that grant access by themselves: never written to the access log.
SECRET_PATH_PARAMS = frozenset({"key", "token", "secret"})
RATE_WINDOW_SECONDS = 60
RATE_LIMITER_KEY = "rate_limiter"
EXPOSED_HEADERS = [
    "X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
]


class RequestIdMiddleware:
    """Accept a sane X-Request-ID or make one; expose it to handlers and logs, echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header_of(scope, b"x-request-id") or ""
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else new_id()
        id_header = (b"x-request-id", request_id.encode())
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_headers(message, [id_header])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class ObservabilityMiddleware:
    """One JSON access-log line and the HTTP metrics for every request."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering
        method = scope["method"]
        in_progress = self.metrics.in_progress.labels(method_label(method))
        in_progress.inc()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            in_progress.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(method, route, status, elapsed)
            path = loggable_path(scope)
            access_log.info(
                "%s %s %d", method, path, status,
                extra={"method": method, "route": route, "path": path, "status": status,
                       "duration_ms": round(elapsed * 1000, 2), **caller_fields(scope)},
            )


def loggable_path(scope: Scope) -> str:
    """The path, with path parameters that are secrets (a calendar feed's key) masked."""
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        if name in SECRET_PATH_PARAMS and isinstance(value, str) and value:
            path = path.replace(value, "[redacted]")
    return path


def caller_fields(scope: Scope) -> dict[str, str]:
    """Who made the request: the client's address (the proxy's X-Forwarded-For only from
    TRUSTED_PROXIES, applied by the server) and the authenticated user or API key."""
    fields: dict[str, str] = {}
    client = scope.get("client")
    if client:
        fields["client"] = str(client[0])
    principal = (scope.get("state") or {}).get("principal")
    if isinstance(principal, Principal):
        fields["user_id"] = principal.user_id
        if principal.api_key_id is not None:
            fields["api_key_id"] = principal.api_key_id
    return fields


class ErrorEnvelopeMiddleware:
    """The last resort: whatever escapes the routes' handlers still answers in the envelope,
    carrying the request id, and is logged once (with its traceback when unexpected)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if response_started:
                raise
            if isinstance(exc, StoreFailed):  # as the app's handlers answer it (api/errors.py)
                handler = store_error
            elif isinstance(exc, RoomcastError):
                handler = roomcast_error
            else:
                handler = unexpected_error
            response = await handler(Request(scope), exc)
            await response(scope, receive, send)


class RateLimitMiddleware:
    """Per-IP limits on every request, and per-user limits when a valid bearer is present.

    The user is identified by verifying the token's signature only (no store round trip);
    an API key counts under a hash of itself. Every answer carries RateLimit-* headers for
    the tightest limit that applied.
    """

    def __init__(self, app: ASGIApp, *, ctx: AppContext, limiter: RateLimiter) -> None:
        self.app = app
        self.ctx = ctx
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        decision = await self._decide(request)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            headers["Retry-After"] = str(decision.retry_after)
            response = error_response(
                request, 429, "rate_limited", "too many requests: slow down",
                {"limit": decision.limit, "window_seconds": RATE_WINDOW_SECONDS}, headers,
            )
            await response(scope, receive, send)
            return
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_headers(message, raw_headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _decide(self, request: Request) -> RateDecision:
        settings = self.ctx.settings
        client = request.client.host if request.client else "unknown"
        by_ip = await self.limiter.hit(
            f"ip:{client}", limit=settings.rate_limit_ip_per_minute,
            window_seconds=RATE_WINDOW_SECONDS,
        )
        subject = self._subject(request) if by_ip.allowed else None
        if subject is None:
            return by_ip
        by_user = await self.limiter.hit(
            subject, limit=settings.rate_limit_user_per_minute,
            window_seconds=RATE_WINDOW_SECONDS,
        )
        # Report the limit that binds: a refusal first, else the one closest to running out.
        return min(by_ip, by_user, key=lambda d: (d.allowed, d.remaining))

    def _subject(self, request: Request) -> str | None:
        credential = bearer_of(request)
        if not credential:
            return None
        if credential.startswith(API_KEY_PREFIX):
            return "key:" + hashlib.sha256(credential.encode()).hexdigest()[:32]
        try:
            claims = self.ctx.tokens.verify(credential, typ="access")
        except Exception:
            # Identification only: a bad token is counted per IP here and refused by the route.
            return None
        return f"user:{claims.sub}"


def rate_limit_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.retry_after),
    }


class BodySizeLimitMiddleware:
    """413 payload_too_large past `max_bytes`: up front on Content-Length, else while the body
    streams in (the route's own handlers answer it, as it surfaces from `request.body()`)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _UPLOAD_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        details = {"max_bytes": self.max_bytes}
        if _content_length(scope) > self.max_bytes:
            message = f"the body exceeds {self.max_bytes} bytes"
            response = error_response(Request(scope), 413, PayloadTooLarge.code, message, details)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(
                        f"the body exceeds {self.max_bytes} bytes", details=details
                    )
            return message

        await self.app(scope, receive_limited, send)


def _content_length(scope: Scope) -> int:
    try:
        return int(header_of(scope, b"content-length") or "0")
    except ValueError:
        return 0


def header_of(scope: Scope, name: bytes) -> str | None:
    """A request header by its lower-case name, read straight from the ASGI scope (cheaper
    than building a Request on every request)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def add_headers(message: Message, headers: list[tuple[bytes, bytes]]) -> None:
    # Appending raw pairs: these names are ours alone, nothing upstream sets them.
    message["headers"] = [*message.get("headers", ()), *headers]


def rate_limiter_for(ctx: AppContext) -> RateLimiter:
    """One limiter per context (shared by every app built on it): Redis when configured."""
    limiter = ctx.extras.get(RATE_LIMITER_KEY)
    if limiter is None:
        limiter = RedisRateLimiter(ctx.redis) if ctx.redis is not None else MemoryRateLimiter()
        ctx.extras[RATE_LIMITER_KEY] = limiter
    return limiter


def build_middleware(ctx: AppContext) -> list[Middleware]:
    settings = ctx.settings
    stack = [
        Middleware(RequestIdMiddleware),
        Middleware(ObservabilityMiddleware, metrics=HttpMetrics.of(ctx)),
    ]
    if settings.cors_origins:
        stack.append(Middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=EXPOSED_HEADERS, max_age=600,
        ))
    stack += [
        Middleware(ErrorEnvelopeMiddleware),
        Middleware(RateLimitMiddleware, ctx=ctx, limiter=rate_limiter_for(ctx)),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    return stack
