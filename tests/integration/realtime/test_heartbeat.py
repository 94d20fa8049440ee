"""Engine.IO's heartbeat on Roomcast's lean sockets: a peer that answers pings stays, one that
goes silent is hung up on and leaves presence, within the ping settings.

The peer here speaks Engine.IO over a raw WebSocket, so the test decides when it answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock

pytestmark = pytest.mark.slow

PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0


async def open_raw(url: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket")
    opened = await ws.recv()
    assert isinstance(opened, str) and opened.startswith("0"), opened
    await ws.send("40" + json.dumps({"token": token}))
    answer = await ws.recv()
    assert isinstance(answer, str) and answer.startswith("40"), answer
    return ws, json.loads(opened[1:])


async def test_a_peer_that_answers_pings_stays_connected(
    seed: Seed, start_server: StartServer
) -> None:
    user = seed.user()
    server = start_server(socket_ping_interval=str(PING_INTERVAL),
                          socket_ping_timeout=str(PING_TIMEOUT))
    ws, opened = await open_raw(server.url, user.token)
    assert opened["pingInterval"] == PING_INTERVAL * 1000
    pings = 0
    deadline = time.monotonic() + 4 * (PING_INTERVAL + PING_TIMEOUT)
    while time.monotonic() < deadline:
        frame = await asyncio.wait_for(ws.recv(), PING_INTERVAL + PING_TIMEOUT + 2)
        if frame == "2":
            pings += 1
            await ws.send("3")
    # Pings kept coming, each after the previous pong, and the connection outlived the
    # ping interval plus timeout several times over.
    assert pings >= 5
    # Still a working Socket.IO connection: an event gets its ack.
    await ws.send('421["join",{"room":"user:' + user.id + '"}]')
    while not (frame := await asyncio.wait_for(ws.recv(), 5)).startswith("431"):
        if frame == "2":
            await ws.send("3")
    assert json.loads(frame[3:])[0]["ok"] is True
    await ws.close()


async def test_a_silent_peer_is_hung_up_on_and_leaves_presence(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    silent, watcher = seed.user("silent"), seed.user("watcher")
    room = f"project:{seed.project(silent, watcher)}"
    server = start_server(socket_ping_interval=str(PING_INTERVAL),
                          socket_ping_timeout=str(PING_TIMEOUT))
    sock = await socks().connect(server.url, watcher.token)
    assert (await sock.join(room))["ok"]
    ws, _ = await open_raw(server.url, silent.token)
    await ws.send('421["join",{"room":"' + room + '"}]')
    await sock.wait_for(lambda: sock.named("presence:joined"))

    began = time.monotonic()
    closed_after = None
    try:
        while True:  # read and never answer a ping
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed:
        closed_after = time.monotonic() - began
    # The first unanswered ping comes within an interval, the server gives up after the
    # timeout, and the WebSocket ends at the latest one timeout after that.
    assert closed_after is not None and closed_after < PING_INTERVAL + 3 * PING_TIMEOUT + 5
    left = await sock.wait_for(lambda: sock.named("presence:left"), within=10)
    assert left[0]["user_id"] == silent.id
