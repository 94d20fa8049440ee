"""The WebSocket opening handshake as Roomcast's transport answers it (SocketProtocol with
realtime/wire/ws_handshake.py) against uvicorn's own protocol over websockets, on valid and
invalid upgrade requests: the same bytes written (status, headers, Sec-WebSocket-Accept, body),
the same ASGI scope, the same connection state, and the same frames read afterwards, whatever
the application answers (accept, accept with headers and a subprotocol, close, a denial
response, an error), with permessage-deflate on and off.

Bounded in `make test`; `pytest --long` runs many more examples.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from realtime.wire.frames import PING, TEXT, encode_frame
from realtime.wire.uvicorn_protocol import SocketProtocol
from realtime.wire.ws_handshake import read_upgrade
from tests.support.wire import RecordingTransport, settle, turns

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
VALID = [(b"Host", b"127.0.0.1:8000"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"),
         (b"Sec-WebSocket-Key", KEY), (b"Sec-WebSocket-Version", b"13")]
ANSWERS = ["accept", "accept+headers", "accept+bad header", "close", "denial", "error",
           "nothing"]


def request(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    return line + b"\r\n" + b"".join(name + b": " + value + b"\r\n"
                                      for name, value in headers) + b"\r\n"


async def answer(kind: str, send: Any) -> None:
    if kind == "accept":
        await send({"type": "websocket.accept"})
    elif kind == "accept+headers":
        await send({"type": "websocket.accept", "subprotocol": "chat",
                    "headers": [(b"X-Room", b"cast"), (b"Set-Cookie", b"a=\xe9")]})
    elif kind == "accept+bad header":  # refused by websockets' Headers: a 500
        await send({"type": "websocket.accept", "headers": [(b"X-Bad", b"a\r\nb")]})
    elif kind == "close":
        await send({"type": "websocket.close"})
    elif kind == "denial":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"no"})
    elif kind == "error":
        raise RuntimeError("refused by the application")


async def handshake(cls: type[WebSocketsSansIOProtocol], data: bytes, kind: str,
                    deflate: bool) -> dict[str, Any]:
    """Everything observable of one handshake, then of two frames sent after it."""
    config = Config(app=None, ws_per_message_deflate=deflate, ws_max_size=300,
                    ws_ping_interval=None, ws_ping_timeout=None, root_path="/rc",
                    headers=[("X-Served-By", "roomcast")], log_config=None)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sun, 06 Dec 2026 12:00:00 GMT"),
                             *config.encoded_headers]
    seen: dict[str, Any] = {"received": []}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["scope"] = scope
        seen["received"].append(await receive())
        await answer(kind, send)
        if kind in ("accept", "accept+headers"):
            seen["received"].append(await receive())

    protocol = cls(config=config, server_state=state, app_state={"k": 1})
    protocol.app = app
    transport = RecordingTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(data)
    await turns()
    protocol.data_received(encode_frame(PING, b"p", mask=b"abcd")
                           + encode_frame(TEXT, b"hello", mask=b"wxyz"))
    await settle(state)
    written = re.sub(rb"Date: [^\r]*", b"Date: -", b"".join(transport.written))
    return {"written": written, "closed": transport.closed, "scope": seen.get("scope"),
            "received": seen["received"], "state": protocol.conn.state,
            "complete": protocol.handshake_complete}


def observed(cls: type[WebSocketsSansIOProtocol], data: bytes, kind: str,
             deflate: bool) -> dict[str, Any]:
    """`handshake`'s observations, or the exception the protocol raised to its caller: given a
    request and more bytes at once, uvicorn's own `handle_parser_exception` fails an assertion
    (websockets cannot close a connection it has not accepted yet)."""
    try:
        return asyncio.run(handshake(cls, data, kind, deflate))
    except Exception as exc:  # the same from both, or a difference
        return {"raised": type(exc).__name__, "message": str(exc)}


def compare(data: bytes, kind: str, deflate: bool) -> dict[str, Any]:
    ours = observed(SocketProtocol, data, kind, deflate)
    theirs = observed(WebSocketsSansIOProtocol, data, kind, deflate)
    assert ours == theirs
    return ours


@pytest.mark.parametrize("kind", ANSWERS)
@pytest.mark.parametrize("deflate", [False, True])
def test_a_browsers_upgrade_is_answered_as_websockets_answers_it(kind: str,
                                                                 deflate: bool) -> None:
    headers = [*VALID, (b"Origin", b"http://127.0.0.1:8000"),
               (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits"),
               (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) \xe9")]
    data = request(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", headers)
    assert (read_upgrade(data, extensions=deflate) is None) is deflate  # negotiated there
    result = compare(data, kind, deflate)
    if kind == "accept":
        assert result["written"].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in result["written"]


# Pieces of upgrade requests, valid and not, that websockets tells apart.
NAMES = [b"Connection", b"Upgrade", b"Sec-WebSocket-Key", b"Sec-WebSocket-Version", b"Origin",
         b"Sec-WebSocket-Protocol", b"Sec-WebSocket-Extensions", b"Content-Length",
         b"Transfer-Encoding", b"Host", b"X-Other", b"Bad Name", b"", b"\xc4"]
VALUES = {
    b"connection": [b"Upgrade", b"upgrade", b"keep-alive, Upgrade", b"keep-alive,Upgrade",
                    b"close", b"", b", upgrade", b"upgrade,", b"Upgrade;x", b"up grade"],
    b"upgrade": [b"websocket", b"WebSocket", b"websocket, h2c", b"h2c", b"", b"websocket/13"],
    b"sec-websocket-key": [KEY, base64.b64encode(b"x" * 15), base64.b64encode(b"y" * 17),
                           b"not base64 at all!!!!!!=", KEY + b" ", b""],
    b"sec-websocket-version": [b"13", b"8", b"13, 8", b" 13", b""],
    b"origin": [b"http://a", b"null", b""],
    b"sec-websocket-protocol": [b"chat", b"a, b", b"", b"bad protocol"],
    b"sec-websocket-extensions": [b"permessage-deflate", b"x-foo", b";;", b""],
    b"content-length": [b"0", b"5", b"x"],
    b"transfer-encoding": [b"chunked"],
    b"x-other": [b"ok", b"\x01", b"a\x7fb", b"\xff\xfe", b"\t", b"a\x00"],
}
LINES = [b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", b"GET / HTTP/1.1",
         b"GET /a%20b/%C3%A9?x=%20 HTTP/1.1", b"POST / HTTP/1.1", b"GET / HTTP/1.0",
         b"GET /\xc3\xa9 HTTP/1.1", b"GET  HTTP/1.1", b"GET / HTTP/1.1 x", b"GET"]


@st.composite
def upgrades(draw: st.DrawFn) -> bytes:
    """A valid upgrade request, perhaps changed: headers dropped, repeated, set to other
    values (or random bytes), their names' case changed, whitespace around values."""
    headers = list(VALID)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 4]))):
        action = draw(st.sampled_from(["drop", "add", "set", "noise"]))
        if action == "drop" and headers:
            headers.pop(draw(st.integers(0, len(headers) - 1)))
        elif action in ("add", "set"):
            name = draw(st.sampled_from(NAMES))
            value = draw(st.sampled_from(VALUES.get(name.lower(), [b"v"])))
            if action == "set":
                headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
            headers.insert(draw(st.integers(0, len(headers))), (name, value))
        else:
            headers.append((draw(st.sampled_from(NAMES)), draw(st.binary(max_size=12))))
    if draw(st.integers(0, 3)) == 0:
        headers = [(name.swapcase() if draw(st.booleans()) else name, value)
                   for name, value in headers]
    if draw(st.integers(0, 3)) == 0:
        pad = draw(st.sampled_from([b" ", b"\t", b"  \t"]))
        headers = [(name, pad + value + pad) for name, value in headers]
    line = draw(st.sampled_from(LINES)) if draw(st.integers(0, 3)) == 0 else LINES[0]
    return request(line, headers)


# At and around websockets' limits (8192 bytes a line, 128 headers), and header values and
# names it refuses or takes.
EDGES = [
    request(LINES[0], [*VALID, (name, value)])
    for name in (b"X-Other", b"Origin", b"Connection")
    for value in (b"\x00", b"\x01", b"\x1f", b"a\x7fb", b"\x80\xff", b"a\tb", b"")
] + [
    request(LINES[0], [*VALID, (name, b"v")]) for name in (b"Bad Name", b"X\x01", b"\xc4", b"")
] + [
    request(LINES[0], [*VALID, (b"X-Long", b"a" * size)]) for size in (8100, 8170, 8178, 8200)
] + [
    request(b"GET /" + b"a" * size + b" HTTP/1.1", VALID) for size in (8150, 8170, 8190, 8200)
] + [
    request(LINES[0], [*VALID, *[(b"X-N", b"%d" % n) for n in range(count)]])
    for count in (120, 122, 123, 124, 130)
]


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_requests_at_websockets_limits_are_answered_as_it_answers_them(data: bytes) -> None:
    compare(data, "accept", False)


def test_bytes_after_a_request_not_yet_answered_fail_as_uvicorn_fails_on_them() -> None:
    # Both raise in the same place, uvicorn's assertion; uvicorn's HTTP protocol never hands
    # the WebSocket protocol more than the request it read.
    result = compare(request(LINES[0], VALID) + b"\r\n", "accept", False)
    assert result["raised"] == "AssertionError"


def test_upgrade_requests_are_answered_as_websockets_answers_them(long_form: bool) -> None:
    taken: Counter[bool] = Counter()

    @settings(max_examples=3000 if long_form else 300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=upgrades(), kind=st.sampled_from(ANSWERS), deflate=st.booleans())
    def check(data: bytes, kind: str, deflate: bool) -> None:
        taken[read_upgrade(data, extensions=deflate) is not None] += 1
        compare(data, kind, deflate)

    check()
    assert taken[True] and taken[False], taken  # both ways were compared


def test_any_bytes_are_refused_as_websockets_refuses_them(long_form: bool) -> None:
    @settings(max_examples=1000 if long_form else 100, deadline=None, database=None)
    @given(data=st.binary(max_size=300), tail=st.sampled_from([b"", b"\r\n\r\n"]))
    def check(data: bytes, tail: bytes) -> None:
        compare(data + tail, "accept", False)

    check()
