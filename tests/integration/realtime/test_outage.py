"""Redis going away and coming back: the server starts without it, refuses sockets while it is
down, keeps REST serving, and resumes on its own; nothing published through REST is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import socketio

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock, redis_emitter
from tests.support.services import free_port, start_redis

pytestmark = pytest.mark.slow


async def connect_when_up(socks: Callable[[], Sock], url: str, token: str,
                          within: float = 20) -> Sock:
    """Connect, retrying while the server refuses with service_unavailable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        sock = socks()
        try:
            return await sock.connect(url, token)
        except socketio.exceptions.ConnectionError:
            assert sock.connect_error["data"]["code"] == "service_unavailable"
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_serve_starts_without_redis_and_subscribes_when_it_comes(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    alice = seed.user("alice")
    project = seed.project(alice)
    port = free_port()  # nothing listens here yet
    server = start_server(redis_url=f"redis://127.0.0.1:{port}/0")
    auth = {"Authorization": f"Bearer {alice.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["details"]["checks"]["redis"] == "down"
        assert (await http.get(f"/api/v1/projects/{project}")).status_code == 200
        refused = socks()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, alice.token)
        assert refused.connect_error["data"]["code"] == "service_unavailable"

        redis = start_redis(port)
        try:
            sock = await connect_when_up(socks, server.url, alice.token)
            assert (await sock.join(f"project:{project}"))["ok"] is True
            async with redis_emitter(redis.url, tmp_path) as emitter:
                offset = await emitter.emit(f"project:{project}", "task.created", {"n": 1})
            got = await sock.wait_for(lambda: sock.named("task.created"))
            assert got == [{"room": f"project:{project}", "offset": offset, "n": 1}]
            assert (await http.get("/health/ready")).status_code == 200
        finally:
            redis.kill()
    assert server.proc.poll() is None
    assert "Traceback" not in server.log()
