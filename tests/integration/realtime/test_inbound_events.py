"""Client events over a raw WebSocket, as realtime/inbound.py reads them: acks when asked for,
none otherwise, an error ack for a bad payload that asked for one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed

pytestmark = pytest.mark.slow


class Peer:
    """A raw Engine.IO/Socket.IO peer: what it sends is exactly what the test writes."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []

    async def connect(self, token: str) -> None:
        assert str(await self.ws.recv()).startswith("0")
        await self.ws.send("40" + json.dumps({"token": token}))
        assert (await self.next(lambda f: f.startswith("40"))).startswith("40{")

    async def next(self, wanted: Any, within: float = 10) -> str:
        """The first frame (after those already seen) that `wanted` accepts; pings answered."""
        async with asyncio.timeout(within):
            while True:
                frame = str(await self.ws.recv())
                if frame == "2":
                    await self.ws.send("3")
                    continue
                self.frames.append(frame)
                if wanted(frame):
                    return frame

    async def ack(self, ack_id: int) -> dict[str, Any]:
        frame = await self.next(lambda f: f.startswith(f"43{ack_id}["))
        result: dict[str, Any] = json.loads(frame[len(f"43{ack_id}"):])[0]
        return result


@pytest.fixture
async def open_peer(start_server: StartServer) -> AsyncIterator[Any]:
    """Opens raw peers to one server, started (with the test's seed) at the first peer."""
    urls: list[str] = []
    opened: list[ClientConnection] = []

    async def make() -> Peer:
        if not urls:
            server = start_server()
            urls.append(server.url.replace("http://", "ws://")
                        + "/socket.io/?EIO=4&transport=websocket")
        ws = await connect(urls[0])
        opened.append(ws)
        return Peer(ws)

    yield make
    for ws in opened:
        await ws.close()


async def test_an_ack_only_when_asked_and_bad_packets_leave_the_connection_usable(
    seed: Seed, open_peer: Any
) -> None:
    ada, bob = seed.user(), seed.user()
    room = f"meeting:{seed.meeting(seed.project(ada, bob), ada)}"
    sender, listener = await open_peer(), await open_peer()
    await sender.connect(ada.token)
    await listener.connect(bob.token)
    for peer, ack_id in ((sender, 1), (listener, 1)):
        await peer.ws.send(f'42{ack_id}["join",{{"room":"{room}"}}]')
        assert (await peer.ack(ack_id))["ok"]

    # No ack id: handled, and nothing is sent back for it.
    await sender.ws.send(f'42["message",{{"room":"{room}","text":"no ack"}}]')
    got = await listener.next(lambda f: f.startswith('42["message"') and "no ack" in f)
    assert json.loads(got[2:])[1]["text"] == "no ack"

    # A bad payload with an ack id is answered, and the connection stays usable.
    await sender.ws.send('428[')
    bad = await sender.ack(8)
    assert bad["error"]["code"] == "validation_error"

    await sender.ws.send(f'429["message",{{"room":"{room}","text":"acked"}}]')
    ack = await sender.ack(9)
    assert ack["ok"] and ack["room"] == room and ack["offset"] == 2
    # Every ack the sender got answers an id it sent, once: the join (1), the bad packet (8)
    # and the acked message (9); none for the message sent without an id.
    acked = [f[2:f.index("[")] for f in sender.frames if f.startswith("43")]
    assert acked == ["1", "8", "9"], sender.frames


async def test_events_before_the_connect_are_refused_not_dispatched(
    seed: Seed, open_peer: Any
) -> None:
    ada = seed.user()
    room = f"project:{seed.project(ada)}"
    peer = await open_peer()
    assert str(await peer.ws.recv()).startswith("0")
    await peer.ws.send(f'421["join",{{"room":"{room}"}}]')  # not connected to "/" yet
    assert (await peer.ack(1))["error"]["code"] == "unauthorized"
    await peer.ws.send("40" + json.dumps({"token": ada.token}))
    await peer.next(lambda f: f.startswith("40{"))
    await peer.ws.send(f'422["join",{{"room":"{room}"}}]')
    assert (await peer.ack(2))["ok"]
