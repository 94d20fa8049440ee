"""The load client's protocol handling over a fake transport: handshake, pings, events, acks,
connect errors and server disconnects; and, over real sockets to a tiny server, connecting
again in place and the reconnects that rejoin rooms with `since`."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from load.client import ConnectFailed, SioClient
from load.contract import entered
from load.frames import OP_TEXT, FrameParser
from load.roomcast import Access, RoomcastWire
from load.scenarios.base import wait_for
from load.scenarios.reconnect import Backoff, Reconnects
from load.stats import Stats
from realtime.wire.frames import TEXT, encode_frame
from tests.support.services import free_port


class FakeTransport:
    """Collects what the client writes, decoded back into text packets."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.raw.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def packets(self) -> list[bytes]:
        """The text payloads of the masked frames written after the upgrade request."""
        stream, out, pos = b"".join(self.raw[1:]), [], 0
        while pos < len(stream):
            size, head = stream[pos + 1] & 0x7F, 2
            if size == 126:
                size, head = int.from_bytes(stream[pos + 2 : pos + 4], "big"), 4
            mask = stream[pos + head : pos + head + 4]
            body = stream[pos + head + 4 : pos + head + 4 + size]
            if stream[pos] & 0x0F == OP_TEXT:
                out.append(bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
            pos += head + 4 + size
        return out


def server_frame(text: bytes) -> bytes:
    """A text frame as the server writes it (its own codec)."""
    return encode_frame(TEXT, text)


UPGRADE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def handshaken(events: list[tuple[str, list[Any]]]) -> tuple[SioClient, FakeTransport]:
    client = SioClient(on_event=lambda c, name, args, ns: events.append((name, args)),
                       clock=lambda: 42)
    transport = FakeTransport()
    client._auth = {"token": "t"}
    client._request = b"GET / HTTP/1.1\r\n\r\n"
    client._ready = asyncio.get_running_loop().create_future()
    client.connection_made(transport)  # type: ignore[arg-type]
    return client, transport


async def test_handshake_events_pings_and_acks() -> None:
    events: list[tuple[str, list[Any]]] = []
    client, transport = handshaken(events)
    # Upgrade response and open packet in one read, as servers often send them.
    client.data_received(UPGRADE + server_frame(b'0{"sid":"e1","pingInterval":25000}'))
    client.data_received(server_frame(b'40{"sid":"s1"}'))
    assert client._ready is not None and client._ready.done()
    assert client.sid == "s1" and client.connected
    client.data_received(server_frame(b"2"))  # Engine.IO ping
    client.data_received(server_frame(b'42["news",{"n":1}]') + server_frame(b'427["ask"]'))
    assert events == [("news", [{"n": 1}]), ("ask", [])]
    call = asyncio.ensure_future(client.call("join", "r"))
    await asyncio.sleep(0)
    client.data_received(server_frame(b'431[{"ok":true}]'))
    assert await call == [{"ok": True}]
    assert transport.packets() == [b'40{"token":"t"}', b"3", b"437[]", b'421["join","r"]']


async def test_connect_error_fails_the_connect() -> None:
    client, _ = handshaken([])
    client.data_received(UPGRADE + server_frame(b"0{}"))
    client.data_received(server_frame(b'44{"message":"refused","data":{"code":"x"}}'))
    assert client._ready is not None
    with pytest.raises(ConnectFailed) as failed:
        await client._ready
    assert failed.value.kind == "connect_error"


async def test_a_refused_upgrade_is_named_by_status() -> None:
    client, transport = handshaken([])
    client.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    assert client._ready is not None
    with pytest.raises(ConnectFailed) as failed:
        await client._ready
    assert failed.value.kind == "http_403"
    assert transport.closed


async def test_server_disconnect_is_reported_once() -> None:
    reasons: list[str] = []
    client, _ = handshaken([])
    client.on_close = lambda c, reason: reasons.append(reason)
    client.data_received(UPGRADE + server_frame(b"0{}") + server_frame(b'40{"sid":"s"}'))
    client.data_received(server_frame(b"41"))
    client.connection_lost(None)
    assert reasons == ["server_disconnect"]
    assert not client.connected


class TinyServer:
    """Just enough of a Socket.IO server over real sockets: the upgrade, the open packet, the
    connect ack, and `join` acked with the room's offset. `drop()` hangs up on everyone."""

    def __init__(self) -> None:
        self.joins: list[Any] = []
        self.connects = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(UPGRADE + server_frame(b'0{"sid":"e","pingInterval":25000}'))
        packets: list[bytes] = []
        parser = FrameParser(lambda opcode, payload: packets.append(payload))
        while data := await reader.read(4096):
            parser.feed(data)
            for packet in packets:
                self._answer(writer, packet)
            packets.clear()

    def _answer(self, writer: asyncio.StreamWriter, packet: bytes) -> None:
        if packet.startswith(b"40"):
            self.connects += 1
            writer.write(server_frame(b'40{"sid":"s%d"}' % self.connects))
        elif packet.startswith(b"42"):
            ack_id, _, body = packet[2:].partition(b"[")
            _event, data = orjson.loads(b"[" + body)
            self.joins.append(data)
            ack = {"ok": True, "room": data["room"], "offset": 7, "recovered": True}
            writer.write(server_frame(b"43" + ack_id + orjson.dumps([ack])))

    def drop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class RoomWire:
    """The part of a wire the reconnects use, with offsets and `since`."""

    offsets = True

    def auth(self, index: int) -> dict[str, Any]:
        return {"token": f"t{index}"}

    async def join(self, client: SioClient, room: str, since: int | None = None) -> Any:
        body = {"room": room} if since is None else {"room": room, "since": since}
        ack = await client.call("join", body)
        return entered(client, room, ack[0])


def reconnecting_to(url: str, stats: Stats) -> Reconnects:
    return Reconnects(stats=stats, wire=RoomWire(),  # type: ignore[arg-type]
                      clock=lambda: 0, url_for=lambda i: url, timeout=5,
                      backoff=Backoff(first=0.01, attempts=3))


async def test_a_client_connects_again_in_place_and_keeps_its_rooms() -> None:
    server = TinyServer()
    url = await server.start()
    reasons: list[str] = []
    client = SioClient(on_close=lambda c, reason: reasons.append(reason), tag="mine")
    try:
        await client.connect(url, auth={})
        await RoomWire().join(client, "meeting:m")
        assert client.rooms == {"meeting:m": 7}
        server.drop()
        await wait_for(lambda: not client.connected, 5)
        assert reasons == ["network"] or reasons == ["server_close"]
        await client.connect(url, auth={})
        assert client.connected and client.sid == "s2"
        assert client.previous_sid == "s1"  # a rejoin names it (`previous`)
        assert client.rooms == {"meeting:m": 7} and client.tag == "mine"
    finally:
        client.close()
        await server.stop()


async def test_roomcast_rejoins_name_the_connection_before() -> None:
    server = TinyServer()
    url = await server.start()
    wire = RoomcastWire(Access(tokens=["t"]), rooms=["meeting:m"])
    client = SioClient()
    try:
        await client.connect(url, auth={})
        await wire.join(client, "meeting:m")
        assert server.joins[-1] == {"room": "meeting:m"}  # a first join names nothing
        server.drop()
        await wait_for(lambda: not client.connected, 5)
        await client.connect(url, auth={})
        await wire.join(client, "meeting:m", since=7)
        assert server.joins[-1] == {"room": "meeting:m", "since": 7, "previous": "s1"}
    finally:
        client.close()
        await server.stop()


async def test_reconnects_rejoin_with_the_last_offset() -> None:
    server = TinyServer()
    url = await server.start()
    stats = Stats(0)
    reconnects = reconnecting_to(url, stats)
    client = SioClient(on_close=lambda c, reason: reconnects.dropped(c))
    try:
        await client.connect(url, auth={})
        reconnects.track(client, 4)
        await RoomWire().join(client, "meeting:m")
        client.rooms["meeting:m"] = 12  # the last offset this client processed
        server.drop()
        await wait_for(lambda: stats.counters["reconnects"] == 1, 5)
        assert server.joins[-1] == {"room": "meeting:m", "since": 12}
        assert stats.counters["reopened"] == 1
        assert stats.counters[f"reconnected@{url}"] == 1
        assert client.connected
    finally:
        await reconnects.stop()
        client.close()
        await server.stop()


async def test_reconnects_give_up_after_their_attempts() -> None:
    server = TinyServer()
    url = await server.start()
    stats = Stats(0)
    reconnects = reconnecting_to(f"http://127.0.0.1:{free_port()}", stats)  # nobody there
    client = SioClient()
    try:
        await client.connect(url, auth={})
        server.drop()
        assert not await reconnects.run(client)
        assert stats.counters["reconnect_attempts"] == 3
        assert stats.errors == {"reconnect:refused": 3, "reconnect:gave_up": 1}
    finally:
        await server.stop()


async def test_a_namespace_is_connected_and_only_its_packets_count() -> None:
    events: list[tuple[str, list[Any]]] = []
    client, transport = handshaken(events)
    client.namespace = "/chat"
    client.data_received(UPGRADE + server_frame(b"0{}"))
    client.data_received(server_frame(b'40{"sid":"default"}'))  # another namespace: ignored
    assert client._ready is not None and not client._ready.done()
    client.data_received(server_frame(b'40/chat,{"sid":"s2"}'))
    assert client.sid == "s2"
    client.data_received(server_frame(b'42["elsewhere"]') + server_frame(b'42/chat,["here",1]'))
    assert events == [("here", [1])]
    client.emit("say", "hi")
    call = asyncio.ensure_future(client.call("join", "r"))
    await asyncio.sleep(0)
    client.data_received(server_frame(b'43/chat,1[{"ok":true}]'))
    assert await call == [{"ok": True}]
    client.close()
    assert transport.packets() == [b'40/chat,{"token":"t"}', b'42/chat,["say","hi"]',
                                   b'42/chat,1["join","r"]', b"41/chat,"]
