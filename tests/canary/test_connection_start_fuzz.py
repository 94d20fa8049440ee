"""A connection's first bytes as Roomcast's `ConnectionStart` takes them (a WebSocket upgrade
read by ws_handshake.read_upgrade straight into the WebSocket protocol) against uvicorn's HTTP
protocol taking them (`UpgradingHttpProtocol`, which hands an upgrade to the same WebSocket
protocol once httptools has parsed it), on the bytes as a client sends them: the same bytes
written, the same ASGI scope, the same messages received, the same protocol left holding the
connection, whatever the application answers, whole or in pieces.

Bounded in `make test`; `pytest --long` runs many more examples.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.server import ServerState

from realtime.wire.frames import TEXT, encode_frame
from realtime.wire.uvicorn_http import ConnectionStart, UpgradingHttpProtocol
from realtime.wire.uvicorn_protocol import SocketProtocol
from realtime.wire.ws_handshake import read_upgrade
from tests.canary.test_handshake_fuzz import ANSWERS, EDGES, LINES, VALID, answer, request, upgrades
from tests.support.wire import RecordingTransport, settle, turns


class Transport(RecordingTransport):
    """A connection whose protocol can be handed over, as uvloop's and asyncio's can."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: Any = None

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


async def connection(cls: type[Any], pieces: list[bytes], kind: str,
                     deflate: bool) -> dict[str, Any]:
    """Everything observable of a connection given `pieces`, then a text frame."""
    seen: dict[str, Any] = {"received": []}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["scope"] = scope
        seen["received"].append(await receive())
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"plain"})
            return
        await answer(kind, send)
        if kind in ("accept", "accept+headers"):
            seen["received"].append(await receive())

    config = Config(app=app, ws=SocketProtocol, ws_per_message_deflate=deflate,
                    ws_max_size=300, ws_ping_interval=None, ws_ping_timeout=None,
                    root_path="/rc", headers=[("X-Served-By", "roomcast")], log_config=None)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sun, 06 Dec 2026 12:00:00 GMT"),
                             *config.encoded_headers]
    transport = Transport()
    first = cls(config=config, server_state=state, app_state={"k": 1})
    transport.protocol = first
    first.connection_made(transport)
    for piece in pieces:
        transport.protocol.data_received(piece)
        await turns()
    if isinstance(transport.protocol, SocketProtocol) and transport.protocol.handshake_complete:
        transport.protocol.data_received(encode_frame(TEXT, b"hello", mask=b"wxyz"))
    await settle(state)
    written = re.sub(rb"(?i)date: [^\r]*", b"Date: -", b"".join(transport.written))
    return {"written": written, "closed": transport.closed, "scope": seen.get("scope"),
            "received": seen["received"], "holder": type(transport.protocol).__name__,
            "connections": sorted(type(c).__name__ for c in state.connections)}


def observed(cls: type[Any], pieces: list[bytes], kind: str, deflate: bool) -> dict[str, Any]:
    try:
        return asyncio.run(connection(cls, pieces, kind, deflate))
    except Exception as exc:  # the same from both, or a difference
        return {"raised": type(exc).__name__, "message": str(exc)}


def compare(pieces: list[bytes], kind: str, deflate: bool) -> dict[str, Any]:
    ours = observed(ConnectionStart, pieces, kind, deflate)
    theirs = observed(UpgradingHttpProtocol, pieces, kind, deflate)
    assert ours == theirs
    return ours


BROWSER = request(LINES[0], [*VALID, (b"Origin", b"http://127.0.0.1:8000"),
                             (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) \xe9")])


@pytest.mark.parametrize("kind", ANSWERS)
def test_a_browsers_upgrade_goes_straight_to_the_websocket_protocol(kind: str) -> None:
    assert read_upgrade(BROWSER, extensions=False, raw=True) is not None
    result = compare([BROWSER], kind, False)
    if kind == "accept":
        assert result["written"].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert result["holder"] == "SocketProtocol"
        assert result["connections"] == ["SocketProtocol"]
        assert result["scope"]["headers"][0] == (b"host", b"127.0.0.1:8000")  # lower case
        assert result["received"][-1] == {"type": "websocket.receive", "text": "hello"}


@pytest.mark.parametrize("deflate", [False, True])
def test_an_extension_offer_is_negotiated_as_the_server_is_set(deflate: bool) -> None:
    offer = request(LINES[0], [*VALID, (b"Sec-WebSocket-Extensions",
                                        b"permessage-deflate; client_max_window_bits")])
    result = compare([offer], "accept", deflate)
    assert (b"Sec-WebSocket-Extensions: permessage-deflate" in result["written"]) is deflate


@pytest.mark.parametrize("data", [
    request(b"GET /health HTTP/1.1", [(b"Host", b"a")]),
    request(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1", [(b"Host", b"a")]),
    request(b"POST / HTTP/1.1", [(b"Content-Length", b"2")]) + b"ab",
    BROWSER + encode_frame(TEXT, b"early", mask=b"abcd"),  # bytes after the request
    request(b"GET /a|b HTTP/1.1", VALID),  # a target character outside RFC 3986's
    request(b"GET /a%zz?q=<x> HTTP/1.1", VALID),
    request(b"GET  HTTP/1.1", VALID),  # no target: httptools refuses it
    request(b"GET * HTTP/1.1", VALID),
    request(b"GET http://a/ HTTP/1.1", VALID),
    BROWSER.replace(b"GET", b"get"),
    request(LINES[0], [*VALID, (b"Connection", b"close")]),  # uvicorn reads the last one
    request(LINES[0], [(b"Connection", b"close"), *VALID]),
], ids=["plain GET", "polling", "POST", "frame after", "pipe", "angle", "no target", "asterisk",
        "absolute", "lower method", "connection last", "connection first"])
def test_anything_else_is_uvicorns_http_protocols(data: bytes) -> None:
    assert read_upgrade(data, extensions=False, raw=True) is None
    compare([data], "accept", False)


def test_a_request_in_pieces_is_read_by_uvicorns_http_protocol() -> None:
    for cut in (1, 4, 20, len(BROWSER) - 2, len(BROWSER) - 1):
        result = compare([BROWSER[:cut], BROWSER[cut:]], "accept", False)
        assert result["holder"] == "SocketProtocol"
        assert result["written"].startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_requests_at_websockets_limits_are_answered_alike(data: bytes) -> None:
    compare([data], "accept", False)


def test_upgrade_requests_are_answered_alike(long_form: bool) -> None:
    taken: Counter[bool] = Counter()

    @settings(max_examples=2000 if long_form else 200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=upgrades(), kind=st.sampled_from(ANSWERS), deflate=st.booleans())
    def check(data: bytes, kind: str, deflate: bool) -> None:
        taken[read_upgrade(data, extensions=deflate, raw=True) is not None] += 1
        compare([data], kind, deflate)

    check()
    assert taken[True] and taken[False], taken  # both ways were compared


def test_any_first_bytes_are_answered_alike(long_form: bool) -> None:
    @settings(max_examples=600 if long_form else 60, deadline=None, database=None)
    @given(data=st.binary(max_size=200), tail=st.sampled_from([b"", b"\r\n\r\n"]))
    def check(data: bytes, tail: bytes) -> None:
        compare([b"GET " + data + tail], "accept", False)

    check()
