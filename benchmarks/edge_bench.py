"""Per-request cost of the HTTP edge middleware, in-process (no sockets, no HTTP parsing).

    .venv/bin/python -m benchmarks.edge_bench [--requests 5000]

Drives one trivial JSON route through a bare Starlette app and through the same app with
Roomcast's middleware stack (request id, access log as JSON, metrics, error envelope, rate
limit in-process, body limit), and prints microseconds per request for each (best of 3).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.errors import EXCEPTION_HANDLERS
from api.middleware import build_middleware
from core.settings import Settings
from roomcast.factory import build_services
from roomcast.logs import JsonFormatter

SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/bench", "raw_path": b"/bench", "root_path": "",
    "query_string": b"", "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1),
    "server": ("bench", 80),
}


async def ok(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def per_request_us(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def discard_access_log() -> None:
    """Access lines are formatted as in production, then written to /dev/null."""
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    logging.getLogger("roomcast.access").addHandler(handler)
    logging.getLogger("roomcast.access").setLevel(logging.INFO)


async def main(n: int) -> None:
    settings = Settings(env="test", data_dir=tempfile.mkdtemp(), _env_file=None,  # type: ignore[call-arg]
                        rate_limit_ip_per_minute=10**9)
    services = build_services(settings)
    routes = [Route("/bench", ok)]
    bare = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    edge = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS,
                     middleware=build_middleware(services.ctx))
    edge.state.ctx = services.ctx
    for app in (bare, edge):
        await per_request_us(app, n // 5)  # warm up
    for name, app in (("bare starlette", bare), ("edge middleware", edge)):
        best = min([await per_request_us(app, n) for _ in range(3)])
        print(f"{name:16} {best:7.1f} us/request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    discard_access_log()
    asyncio.run(main(parser.parse_args().requests))
