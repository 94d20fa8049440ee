"""The official JavaScript socket.io-client v4, unchanged, against a real Roomcast server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock, metric
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for this test: apt-get install nodejs npm")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        command = "ci" if (JS_DIR / "package-lock.json").exists() else "install"
        subprocess.run(["npm", command, "--no-audit", "--no-fund"], cwd=JS_DIR, check=True,
                       timeout=300, capture_output=True)
    return JS_DIR / "client.mjs"


@pytest.mark.parametrize("transports", ["websocket", "default"])
async def test_official_js_client(seed: Seed, start_server: StartServer,
                                  socks: Callable[[], Sock], node_client: Path,
                                  transports: str) -> None:
    """`transports: ["websocket"]`, and the client's defaults (`io(url, { auth })`: long-polling
    first, then the upgrade), against a single process on its default settings."""
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server()
    node = await asyncio.create_subprocess_exec(
        "node", str(node_client), server.url, alice.token, room, transports,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    lines: list[dict[str, Any]] = []
    try:
        async def read_until(step: str) -> dict[str, Any]:
            assert node.stdout is not None
            while True:
                raw = await node.stdout.readline()
                assert raw, f"node exited early: {lines}"
                lines.append(orjson.loads(raw))
                if lines[-1]["step"] == step:
                    return lines[-1]

        refused = await asyncio.wait_for(read_until("connect_error"), 30)
        assert refused["data"]["code"] == "unauthorized"
        joined = await asyncio.wait_for(read_until("join"), 30)
        assert joined["ack"]["ok"] is True
        assert [p["user_id"] for p in joined["ack"]["presence"]] == [alice.id]
        unknown = await asyncio.wait_for(read_until("unknown"), 30)
        assert unknown["ack"]["error"]["code"] == "unknown_event"

        opened = [line for line in lines if line["step"] == "open"]
        assert opened[-1]["transport"] == ("polling" if transports == "default" else "websocket")
        if transports == "default":
            upgraded = [line for line in lines if line["step"] == "upgrade"] or [
                await asyncio.wait_for(read_until("upgrade"), 30)]
            assert upgraded[0]["transport"] == "websocket"

        b = await socks().connect(server.url, bob.token)
        await b.join(room)
        sent = await b.call("message", {"room": room, "text": "hello from python"})
        ack = await asyncio.wait_for(read_until("message_ack"), 30)
        assert ack["ack"]["ok"] is True and ack["ack"]["offset"] == sent["offset"] + 1
        events = [(line["event"], line["data"]) for line in lines if line["step"] == "event"]
        joined_users = [d["user"]["user_id"] for e, d in events if e == "presence:joined"]
        assert joined_users == [bob.id]
        messages = [d for e, d in events if e == "message"]
        assert messages[0]["offset"] == sent["offset"]
        assert messages[0]["text"] == "hello from python" and messages[0]["user_id"] == bob.id
        reply = await b.wait_for(lambda: [m for m in b.named("message")
                                          if m["text"] == "hello from js"])
        assert reply[0]["user_id"] == alice.id
        assert await asyncio.wait_for(node.wait(), 30) == 0
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()


async def test_official_js_client_is_told_why_polling_is_refused(
    seed: Seed, start_server: StartServer, node_client: Path, rt_redis: RedisServer,
) -> None:
    """Several processes (`REDIS_URL`) without `SOCKET_ALLOW_POLLING`: the client's defaults
    get `polling_disabled` in `connect_error` (not only "xhr poll error"), and the same client
    with `tryAllTransports: true` connects over WebSocket."""
    alice = seed.user("alice")
    server = start_server(redis_url=rt_redis.url)
    node = await asyncio.create_subprocess_exec(
        "node", str(node_client.parent / "polling_refused.mjs"), server.url, alice.token,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(node.communicate(), 60)
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()
    assert node.returncode == 0, err.decode()
    refused, connected = [orjson.loads(line) for line in out.splitlines()]
    assert (refused["step"], refused["message"], refused["description"]) == (
        "connect_error", "xhr poll error", 400)
    assert orjson.loads(refused["body"])["code"] == "polling_disabled"
    assert connected == {"step": "connect", "transport": "websocket"}
    # One polling request from each client, counted for operators.
    assert await metric(server.url, "roomcast_polling_refused_total") == 2
