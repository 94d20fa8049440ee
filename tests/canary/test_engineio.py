"""python-engineio internals that realtime/wire/engineio_socket.py and engineio_driver.py use."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

import pytest
from engineio.async_drivers.asgi import WebSocket, translate_request
from engineio.async_server import AsyncServer
from engineio.async_socket import AsyncSocket
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.wire.engineio_driver import _translate_request
from tests.canary.upstream import assert_signature, assert_source, recheck

VERIFIED = "4.15.1"
SOCKET = "realtime/wire/engineio_socket.py (LeanSocket)"
DRIVER = "realtime/wire/engineio_driver.py (DirectWrites)"

# Functions overridden by LeanSocket or TrackedWebSocket, whose upstream body they follow.
OVERRIDDEN = [
    (AsyncSocket._websocket_handler, "27f120df4d717a24", "AsyncSocket._websocket_handler", SOCKET),
    (AsyncSocket.schedule_ping, "fe316639159cd70d", "AsyncSocket.schedule_ping", SOCKET),
    (AsyncSocket.poll, "826f58a9f3606db2", "AsyncSocket.poll", SOCKET),
    (AsyncSocket.receive, "a91ae36ec2fb5340", "AsyncSocket.receive", SOCKET),
    (AsyncSocket.close, "faa2e93902543244", "AsyncSocket.close", SOCKET),
    (WebSocket.__call__, "abbf7a49b2256d37", "async_drivers.asgi.WebSocket.__call__", DRIVER),
    (WebSocket.send, "0af97629973f3c51", "async_drivers.asgi.WebSocket.send", DRIVER),
    (translate_request, "39e74733f1fe46aa", "async_drivers.asgi.translate_request", DRIVER),
]


def test_the_verified_release_is_installed() -> None:
    assert version("python-engineio").startswith("4.15."), recheck(
        "its release", f"{SOCKET} and {DRIVER}", "python-engineio", VERIFIED)


@pytest.mark.parametrize(("function", "expected", "what", "ours"), OVERRIDDEN,
                         ids=[row[2] for row in OVERRIDDEN])
def test_overridden_functions_are_unchanged(function: object, expected: str, what: str,
                                            ours: str) -> None:
    assert_source(function, expected, what=what, ours=ours, package="python-engineio",
                  verified=VERIFIED)


def test_signatures_called_with_keywords() -> None:
    assert_signature(AsyncSocket.close, "(self, wait=True, abort=False, reason=None)",
                     what="AsyncSocket.close", ours=SOCKET, package="python-engineio",
                     verified=VERIFIED)
    assert_signature(WebSocket.__init__, "(self, handler, server)",
                     what="async_drivers.asgi.WebSocket.__init__", ours=DRIVER,
                     package="python-engineio", verified=VERIFIED)


def test_server_attributes_swapped_or_read() -> None:
    server = AsyncServer(async_mode="asgi")
    message = recheck("AsyncServer's `_async` driver table, `create_queue`, `sockets` or "
                      "`reason`", f"{DRIVER} (install) and {SOCKET} (install, _Sockets)",
                      "python-engineio", VERIFIED)
    assert server._async.get("websocket") is WebSocket, message
    assert server._async.get("translate_request") is translate_request, message
    assert callable(server.create_queue), message
    assert type(server.sockets) is dict, message
    assert hasattr(server.reason, "CLIENT_DISCONNECT"), message
    assert hasattr(server.reason, "TRANSPORT_CLOSE"), message
    assert hasattr(server.reason, "SERVER_DISCONNECT"), message


def test_sockets_are_plain_async_sockets_with_a_queue() -> None:
    # _Sockets swaps the class of exactly AsyncSocket instances, and reads socket.queue.
    server = AsyncServer(async_mode="asgi")
    server.create_queue = lambda *args, **kwargs: "queue"
    socket = AsyncSocket(server, "sid")
    message = recheck("AsyncSocket's constructor or its `queue`, `connected`, `upgraded`, "
                      "`upgrading`, `closing`, `closed`, `last_ping` attributes", SOCKET,
                      "python-engineio", VERIFIED)
    assert socket.queue == "queue", message
    for name in ("connected", "upgraded", "upgrading", "closing", "closed", "last_ping"):
        assert hasattr(socket, name), f"{message} ({name})"


async def receive_connect() -> dict[str, Any]:
    return {"type": "websocket.connect"}


def environ(translate: Any, scope: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(translate(scope, receive_connect, None))  # type: ignore[no-any-return]


HEADER_BYTES = st.one_of(st.sampled_from([b"host", b"Upgrade", b"content-type", b"CONTENT-LENGTH",
                                          b"x-forwarded-proto", b"Origin", b"x-a"]),
                         st.binary(max_size=8))


@settings(max_examples=200, deadline=None, database=None)
@given(headers=st.lists(st.tuples(HEADER_BYTES, st.binary(max_size=10)), max_size=8),
       query=st.one_of(st.binary(max_size=30), st.just(b"EIO=4&transport=websocket")),
       kind=st.sampled_from(["websocket", "http"]), method=st.sampled_from([None, "GET", "POST"]))
def test_the_websocket_environ_is_upstreams_less_the_body_reader(
        headers: list[tuple[bytes, bytes]], query: bytes, kind: str, method: str | None) -> None:
    scope: dict[str, Any] = {"type": kind, "path": "/socket.io/", "query_string": query,
                             "headers": headers}
    if method is not None:
        scope["method"] = method
    theirs, ours = environ(translate_request, scope), environ(_translate_request, scope)
    assert "wsgi.input" in theirs and ("wsgi.input" in ours) == (kind == "http")
    theirs.pop("wsgi.input")
    ours.pop("wsgi.input", None)
    assert ours == theirs
