"""The load client's protocol handling over a fake transport: handshake, pings, events, acks,
connect errors and server disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from load.client import ConnectFailed, SioClient
from load.frames import OP_TEXT


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
    return bytes([0x81, len(text)]) + text


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
