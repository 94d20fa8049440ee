"""Roomcast's detachable WebSocket transport: a connection holds no task of its own once
connected, frames reach the right sockets, and polling and the upgrade from polling still work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from realtime.streams import volatile_frame
from realtime.wire.socketio_server import KEPT_ENVIRON
from realtime.wire.uvicorn_protocol import SocketProtocol
from realtime.wire.ws_handshake import KEPT_SCOPE
from roomcast.factory import Services, build_services, create_asgi
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.domain import make_user
from tests.support.services import free_port

pytestmark = pytest.mark.slow

CONNECTIONS = 40


def server_tasks() -> list[str]:
    """Running tasks whose coroutine is the server's side of a connection."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is None:
            continue
        where = code.co_filename
        if ("uvicorn/protocols" in where or "engineio/async_socket" in where
                or where.endswith("realtime/wire/engineio_socket.py")):
            found.append(code.co_qualname)
    return found


@pytest.fixture
async def in_process(make_settings: Any, tmp_path: Path) -> AsyncIterator[tuple[str, Services]]:
    services = build_services(make_settings(socket_events_per_second=1000,
                                            socket_event_burst=1000))
    port = free_port()
    config = uvicorn.Config(create_asgi(services), host="127.0.0.1", port=port,
                            ws=SocketProtocol, ws_ping_interval=None, log_config=None,
                            lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 10 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert server.started, "the in-process server did not start"
    try:
        yield f"http://127.0.0.1:{port}", services
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def test_connections_hold_no_task_and_get_their_frames(
    in_process: tuple[str, Services], socks: Callable[[], Sock]
) -> None:
    url, services = in_process
    callers = [await make_user(services) for _ in range(CONNECTIONS)]
    tokens = [c.headers["Authorization"].split()[1] for c in callers]
    before = server_tasks()
    clients = [await socks().connect(url, token) for token in tokens]
    await asyncio.sleep(0.2)
    sockets = list(services.realtime.sio.eio.sockets.values())
    assert len(sockets) == CONNECTIONS
    # Every socket is driven from callbacks: no ASGI task, no reader, no writer per connection.
    assert all(s._protocol is not None for s in sockets)
    # ... and reads its text frames itself (realtime/wire/uvicorn_protocol.py's _read_frames).
    assert all(s._protocol.reads_frames for s in sockets)
    assert len(server_tasks()) - len(before) < CONNECTIONS / 4, server_tasks()

    # Each user's room gets its own frame and nobody else's.
    emitter = services.realtime.emitter
    for n, caller in enumerate(callers):
        await emitter.emit(f"user:{caller.id}", "probe", {"n": n})
    for n, sock in enumerate(clients):
        got = await sock.wait_for(lambda s=sock: s.named("probe"))
        assert [(p["room"], p["n"]) for p in got] == [(f"user:{callers[n].id}", n)]
    # Acks come back over the same path.
    ack = await clients[0].join(f"user:{callers[0].id}")
    assert ack["ok"] is True

    for sock in clients:
        await sock.close()
    await asyncio.sleep(0.3)
    assert services.realtime.sio.eio.sockets == {}  # each ended connection was let go
    assert services.realtime.hub is not None and services.realtime.hub.sessions == {}


async def test_polling_and_the_upgrade_from_polling_still_work(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    users = [seed.user() for _ in range(4)]
    room = f"meeting:{seed.meeting(seed.project(*users), users[0])}"
    server = start_server(socket_allow_polling="true")
    publisher = await socks().connect(server.url, users[0].token)
    listeners = [
        await socks().connect(server.url, users[1].token, ("websocket",)),
        await socks().connect(server.url, users[2].token, ("polling", "websocket")),
        await socks().connect(server.url, users[3].token, ("polling",)),
    ]
    assert listeners[1].client.transport() == "websocket"  # upgraded
    assert listeners[2].client.transport() == "polling"
    for sock in [publisher, *listeners]:
        assert (await sock.join(room))["ok"]
    for n in range(5):
        assert (await publisher.call("message", {"room": room, "text": f"m{n}"}))["ok"]
    for sock in listeners:
        got = await sock.wait_for(lambda s=sock: len(s.named("message")) >= 5 and s)
        assert [m["text"] for m in got.named("message")] == [f"m{n}" for n in range(5)]


async def test_packets_sent_back_to_back_are_handled_in_order(
    seed: Seed, start_server: StartServer
) -> None:
    user = seed.user()
    room = f"project:{seed.project(user)}"
    server = start_server()
    async with connect(server.url.replace("http://", "ws://")
                       + "/socket.io/?EIO=4&transport=websocket") as ws:
        assert str(await ws.recv()).startswith("0")
        # The Socket.IO CONNECT (which verifies the token) and three events in one go: each is
        # handled only after the one before it, so the joins see a connected socket.
        await ws.send("40" + json.dumps({"token": user.token}))
        for n in (1, 2, 3):
            await ws.send(f'42{n}["join",{{"room":"{room}"}}]')
        first = str(await asyncio.wait_for(ws.recv(), 10))
        acks = []
        while len(acks) < 3:
            frame = str(await asyncio.wait_for(ws.recv(), 10))
            if frame.startswith("43"):  # acks; events such as presence diffs are skipped
                acks.append((frame[2], json.loads(frame[3:])[0]))
    assert first.startswith("40{"), first
    assert [n for n, _ in acks] == ["1", "2", "3"]
    assert all(ack["ok"] and ack["room"] == room for _, ack in acks), acks


class CountingTransport:
    """The connection's own transport, counting the writes handed to it."""

    def __init__(self, transport: Any) -> None:
        self.transport, self.writes = transport, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def test_frames_of_one_turn_reach_each_socket_in_one_write_and_in_order(
    in_process: tuple[str, Services], socks: Callable[[], Sock]
) -> None:
    url, services = in_process
    callers = [await make_user(services) for _ in range(3)]
    clients = [await socks().connect(url, c.headers["Authorization"].split()[1])
               for c in callers]
    await asyncio.sleep(0.2)
    counters = []
    for socket in services.realtime.sio.eio.sockets.values():
        joined = socket._protocol.transport  # realtime/wire/uvicorn_protocol.py's TurnWrites
        joined.transport = CountingTransport(joined.transport)
        counters.append(joined.transport)
    hub = services.realtime.hub
    assert hub is not None
    for n in range(20):  # one loop turn: every frame is written before anything is sent
        for caller in callers:
            hub.fanout.deliver(f"user:{caller.id}", volatile_frame("probe", {"n": n}))
    for sock in clients:
        got = await sock.wait_for(lambda s=sock: len(s.named("probe")) >= 20 and s.named("probe"))
        assert [p["n"] for p in got] == list(range(20))
    # One write each (two if an Engine.IO ping fell due in between), not twenty.
    assert [c.writes <= 2 for c in counters] == [True] * 3, [c.writes for c in counters]
    for sock in clients:
        await sock.close()


async def test_a_connection_keeps_only_what_it_needs_of_its_request(
    in_process: tuple[str, Services], socks: Callable[[], Sock]
) -> None:
    """Once connected, neither the WebSocket protocol's scope nor python-socketio's environ
    holds the request's headers (realtime/wire/ws_handshake.py `kept_scope`,
    realtime/wire/socketio_server.py `kept_environ`), the connect still knew the client's
    address, and what uvicorn logs of the connection is still there."""
    url, services = in_process
    callers = [await make_user(services) for _ in range(3)]
    clients = [await socks().connect(url, c.headers["Authorization"].split()[1])
               for c in callers]
    sio = services.realtime.sio
    hub = services.realtime.hub
    assert hub is not None
    for socket in sio.eio.sockets.values():
        protocol = socket._protocol
        assert set(protocol.scope) <= set(KEPT_SCOPE) and "headers" not in protocol.scope
        assert protocol.scope["client"][0] == "127.0.0.1"
        assert protocol.scope["path"] == "/socket.io/"
        assert isinstance(protocol.writable._waiters, list) and protocol.writable.is_set()
        environ = sio.environ[socket.sid]
        assert set(environ) <= {*KEPT_ENVIRON, "asgi.scope"}, set(environ)
        assert not any(key.startswith("HTTP_") for key in environ)
        assert environ["asgi.scope"]["client"][0] == "127.0.0.1"
        assert isinstance(socket.queue._finished._waiters, list)
    assert sorted(s.client for s in hub.sessions.values()) == ["127.0.0.1"] * 3
    # The connections work as before: an ack, and a frame to each.
    assert (await clients[0].join(f"user:{callers[0].id}"))["ok"] is True
    for n, caller in enumerate(callers):
        await services.realtime.emitter.emit(f"user:{caller.id}", "probe", {"n": n})
    for n, sock in enumerate(clients):
        got = await sock.wait_for(lambda s=sock: s.named("probe"))
        assert [p["n"] for p in got] == [n]
    for sock in clients:
        await sock.close()
