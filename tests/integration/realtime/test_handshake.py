"""The opening handshake as a `roomcast serve` process answers it on the wire: a browser's
upgrade request (an extension offer and an Origin included) accepted with the key's
Sec-WebSocket-Accept and the OPEN packet, permessage-deflate negotiated by websockets when
SOCKET_COMPRESSION is on, and bad upgrades refused with websockets' own status and text.
tests/canary/test_handshake_fuzz.py compares every byte with websockets' answer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from urllib.parse import urlsplit

import pytest
from websockets.server import ServerProtocol

from tests.integration.realtime.conftest import StartServer

pytestmark = pytest.mark.slow

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def upgrade(host: str, key: bytes, *extra: str) -> bytes:
    lines = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {host}",
             "Connection: keep-alive, Upgrade", "Upgrade: websocket",
             f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13",
             f"Origin: http://{host}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer(url: str, request: bytes) -> tuple[bytes, bytes]:
    """The response's head and what follows it within a second (the first frames)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        try:
            rest = await asyncio.wait_for(reader.read(4096), 1)
        except TimeoutError:
            rest = b""
        return head, rest
    finally:
        writer.close()


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


async def test_a_browsers_upgrade_is_accepted_with_the_keys_answer(
        start_server: StartServer) -> None:
    server = start_server()
    key = base64.b64encode(os.urandom(16))
    head, rest = await answer(server.url, upgrade(
        urlsplit(server.url).netloc, key,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Mozilla/5.0"))
    lines = head.split(b"\r\n")
    assert lines[:4] == [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
                         b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + accept_for(key)]
    assert not any(line.lower().startswith(b"sec-websocket-extensions") for line in lines)
    assert rest[:1] == b"\x81" and rest[2:4] == b'0{'  # the Engine.IO OPEN packet, unmasked


async def test_permessage_deflate_is_negotiated_when_compression_is_on(
        start_server: StartServer) -> None:
    server = start_server(socket_compression="true")
    key = base64.b64encode(os.urandom(16))
    head, _ = await answer(server.url, upgrade(
        urlsplit(server.url).netloc, key,
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"))
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    assert b"Sec-WebSocket-Accept: " + accept_for(key) in lines
    assert any(line.startswith(b"Sec-WebSocket-Extensions: permessage-deflate")
               for line in lines), head


@pytest.mark.parametrize(("change", "status"), [
    (("Sec-WebSocket-Key: c2hvcnQ=",), b"400"),  # a key of 5 bytes
    (("Sec-WebSocket-Version: 8",), b"400"),
    (("Sec-WebSocket-Protocol: a b",), b"400"),  # not a token list
])
async def test_bad_upgrades_are_refused_as_websockets_refuses_them(
        start_server: StartServer, change: tuple[str, ...], status: bytes) -> None:
    server = start_server()
    host = urlsplit(server.url).netloc
    name = change[0].split(":")[0].encode()
    request = b"\r\n".join(line for line in upgrade(host, base64.b64encode(os.urandom(16))).split(
        b"\r\n") if not line.startswith(name))
    request = request[:-2] + change[0].encode() + b"\r\n\r\n"
    head, body = await answer(server.url, request)
    assert head.split(b" ")[1] == status, head
    # websockets' own text for the same request, as uvicorn's protocol would send it.
    conn = ServerProtocol()
    conn.receive_data(request)
    [parsed] = conn.events_received()
    assert body == conn.accept(parsed).body
