"""websockets internals that realtime/wire/uvicorn_protocol.py and realtime/wire/ws_handshake.py
read or stand in for."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import pytest
from websockets import http11
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from realtime.wire import ws_handshake
from realtime.wire.frames import TEXT, encode_frame
from realtime.wire.uvicorn_protocol import _waits_for_a_frame
from tests.canary.upstream import assert_source, recheck

VERIFIED = "17.4"
OURS = "realtime/wire/uvicorn_protocol.py (_waits_for_a_frame, SocketProtocol.detach)"
HANDSHAKE = ("realtime/wire/ws_handshake.py (read_upgrade, switching) and "
             "realtime/wire/uvicorn_protocol.py (SocketProtocol._upgrade, send)")

# What ws_handshake.read_upgrade and SocketProtocol._upgrade stand in for: reading the request,
# checking it, answering it, and where the parser goes once the request is read.
HANDSHAKE_FOLLOWED: list[tuple[Any, str]] = [
    (http11.Request.parse, "fd00e2611149536e"),
    (http11.parse_headers, "90bddf8d62394fe6"),
    (ServerProtocol.process_request, "2611abb84de75f09"),
    (ServerProtocol.accept, "f2f96c48162dbfda"),
    (ServerProtocol.parse, "8c4d10340de4d32f"),
    (ServerProtocol.send_response, "0676fec30e39473d"),
    (Protocol.parse, "45aaf900644b63c4"),
]


def message(what: str) -> str:
    return recheck(what, OURS, "websockets", VERIFIED)


def test_the_verified_release_is_installed() -> None:
    assert version("websockets") == VERIFIED, message("its release")


def test_the_parser_state_is_read_through_its_generator() -> None:
    conn = ServerProtocol(state=State.OPEN)
    # Waiting at the start of a frame: the parser generator's innermost frame is `at_eof`.
    assert _waits_for_a_frame(conn), message(
        "ServerProtocol.parser (a generator waiting in `at_eof`), `reader.buffer` or "
        "`current_size`")
    conn.receive_data(encode_frame(TEXT, b"hello", mask=b"abcd")[:3])
    assert not _waits_for_a_frame(conn), message(
        "ServerProtocol.parser: half a frame no longer moves it off `at_eof`")


def test_the_c_mask_is_built() -> None:
    from websockets import speedups

    assert speedups.apply_mask(b"\x00\x00", b"abcd") == b"ab", message(
        "websockets.speedups.apply_mask (the C extension realtime/wire/frames.py uses)")


@pytest.mark.parametrize(("function", "expected"), HANDSHAKE_FOLLOWED,
                         ids=[row[0].__qualname__ for row in HANDSHAKE_FOLLOWED])
def test_the_handshake_functions_stood_in_for_are_unchanged(function: Any, expected: str) -> None:
    assert_source(function, expected, what=function.__qualname__, ours=HANDSHAKE,
                  package="websockets", verified=VERIFIED)


def test_the_handshake_reads_headers_with_websockets_grammar() -> None:
    what = recheck("http11._token_re, _value_re, MAX_NUM_HEADERS or MAX_LINE_LENGTH", HANDSHAKE,
                   "websockets", VERIFIED)
    assert http11._token_re.pattern == ws_handshake.TOKEN, what
    assert http11._value_re.pattern == ws_handshake.VALUE, what
    assert isinstance(http11.MAX_NUM_HEADERS, int), what
    assert isinstance(http11.MAX_LINE_LENGTH, int), what


def test_the_server_protocol_attributes_the_handshake_sets() -> None:
    conn = ServerProtocol()
    for name in ("accept_called", "available_extensions", "debug", "reader", "parser", "state",
                 "logger"):
        assert hasattr(conn, name), message(f"ServerProtocol.{name}")
    source = inspect.getsource(ServerProtocol.process_request)
    assert "self.origin = " in source, message("ServerProtocol.origin")
    assert inspect.isgeneratorfunction(Protocol.parse), message("Protocol.parse (a generator)")
    assert conn.state is State.CONNECTING, message("ServerProtocol's initial state")
