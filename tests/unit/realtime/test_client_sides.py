"""A serving process imports python-socketio and Engine.IO without their client sides
(realtime/wire/client_sides.py), and the client classes still resolve on first use."""

from __future__ import annotations

import subprocess
import sys

from realtime.wire.client_sides import split_init, split_optional

CLIENT_SIDE = ("socketio.client", "socketio.async_client", "engineio.client",
               "engineio.async_client", "taskiq.middlewares.taskiq_admin_middleware",
               "requests", "aiohttp", "opentelemetry.sdk.metrics")

PROBE = f"""
import sys
if sys.argv[1] == "deferred":
    from realtime.wire.client_sides import defer_client_sides
    defer_client_sides()
import roomcast.serve
print(",".join(m for m in {CLIENT_SIDE!r} if m in sys.modules))
import engineio, engineio.async_client, socketio, socketio.async_client, socketio.client
import taskiq, taskiq.middlewares, taskiq.middlewares.taskiq_admin_middleware as admin
assert socketio.AsyncClient is socketio.async_client.AsyncClient
assert socketio.Client is socketio.client.Client
assert engineio.AsyncClient is engineio.async_client.AsyncClient
assert socketio.AsyncServer.__module__ == "socketio.async_server"
assert "AsyncSimpleClient" in socketio.__all__ and socketio.AsyncSimpleClient is not None
assert taskiq.middlewares.TaskiqAdminMiddleware is admin.TaskiqAdminMiddleware
assert taskiq.PrometheusMiddleware.__module__ == "taskiq.middlewares.prometheus_middleware"
import redis.observability.providers as providers
from opentelemetry.sdk.metrics import MeterProvider
assert providers.OTEL_AVAILABLE is True and providers.MeterProvider is MeterProvider
"""


def imported_client_side(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


def test_the_server_imports_no_client_side_and_the_clients_still_resolve() -> None:
    assert imported_client_side("whole") == list(CLIENT_SIDE)  # what is left out otherwise
    assert imported_client_side("deferred") == []


def test_an_init_that_no_longer_matches_is_imported_whole() -> None:
    deferred = {"client": ("Client",)}
    assert split_init("from .client import Client\nfrom .server import Server\n",
                      deferred) is not None
    assert split_init("from .client import Client, Other\n", deferred) is None
    assert split_init("from .client import Client as C\n", deferred) is None
    assert split_init("from .server import Server\n", deferred) is None


OPTIONAL_SOURCE = """
from typing import Optional
try:
    from sdk import Provider
    AVAILABLE = True
except ImportError:
    AVAILABLE = False
    Provider = None

def get(x: Optional[Provider]) -> Optional[Provider]:
    held: Provider = x
    return held
"""


def test_an_optional_import_is_left_for_first_use_when_only_annotations_need_it() -> None:
    parts = split_optional(OPTIONAL_SOURCE, "sdk")
    assert parts is not None and parts[2] == {"Provider", "AVAILABLE"}
    used = OPTIONAL_SOURCE + "\nDEFAULT = Provider\n"
    assert split_optional(used, "sdk") is None  # needed as the module runs: imported whole
    assert split_optional(OPTIONAL_SOURCE, "other") is None
