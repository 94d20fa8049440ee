"""One error envelope for every error: {"error": {code, message, details, request_id}}."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.routing import json_response
from core.errors import RateLimited, RoomcastError, StoreFailed

log = logging.getLogger("roomcast.api")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None
    request_id: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal", 503: "service_unavailable",
}


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(
    request: Request, status: int, code: str, message: str, details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details,
                                          request_id=request_id_of(request)))
    return json_response(body, status, headers)


async def roomcast_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RoomcastError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.http_status >= 500:
        # The library error behind it (the store's "no servers found"), said in the log only.
        cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
        log.warning("request failed: %s%s", exc.message, cause, extra={"code": exc.code})
    return error_response(request, exc.http_status, exc.code, exc.message, exc.details, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    return error_response(request, exc.status_code, code, str(exc.detail), None,
                          dict(exc.headers or {}))


async def store_error(request: Request, exc: Exception) -> Response:
    # A bug or bad data: the traceback, with the store's own words, goes to the log only.
    log.error("document store error", exc_info=exc)
    return error_response(request, 500, "internal", "internal error")


async def redis_error(request: Request, exc: Exception) -> Response:
    # Only the routes that need Redis get here; everything else keeps serving.
    log.error("redis unreachable: %s", exc.__class__.__name__)
    return error_response(request, 503, "service_unavailable",
                          "a service Roomcast needs is unavailable: redis")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(request, 500, "internal", "internal error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    RoomcastError: roomcast_error,
    HTTPException: http_error,
    StoreFailed: store_error,
    RedisConnectionError: redis_error,
    RedisTimeout: redis_error,
    Exception: unexpected_error,
}
