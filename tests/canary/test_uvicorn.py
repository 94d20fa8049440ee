"""uvicorn internals that realtime/wire/uvicorn_protocol.py copies or extends."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from tests.canary.upstream import assert_signature, assert_source, recheck

VERIFIED = "0.55.0"
OURS = ("realtime/wire/uvicorn_protocol.py (SocketProtocol) and realtime/wire/ws_handshake.py "
        "(scope, switching)")

# run_asgi and send_receive_event_to_app are copied into SocketProtocol and changed;
# handle_connect's scope and the `websocket.accept` branch of send are copied into
# SocketProtocol._upgrade, SocketProtocol.send and ws_handshake.py; the others are extended
# around a call to the original. SocketProtocol.shutdown relies on shutdown sending no close
# frame once `close_sent` is set, and on handle_close answering the peer's close without
# setting it.
FOLLOWED = [
    ("run_asgi", "662375aa38d9044c"),
    ("send_receive_event_to_app", "a2b10de91477dc1d"),
    ("handle_parser_exception", "ff5cf13c764fb332"),
    ("data_received", "d6884fcae2995115"),
    ("handle_connect", "fe2a087aa2223cf8"),
    ("send", "3b8afeb81b9b9ae8"),
    ("shutdown", "9dc78b17c097305e"),
    ("handle_close", "62fd412b1f5b9e86"),
]


def test_the_verified_release_is_installed() -> None:
    assert version("uvicorn") == VERIFIED, recheck("its release", OURS, "uvicorn", VERIFIED)


@pytest.mark.parametrize(("name", "expected"), FOLLOWED, ids=[row[0] for row in FOLLOWED])
def test_copied_and_extended_functions_are_unchanged(name: str, expected: str) -> None:
    assert_source(getattr(WebSocketsSansIOProtocol, name), expected,
                  what=f"WebSocketsSansIOProtocol.{name}", ours=OURS, package="uvicorn",
                  verified=VERIFIED)


def test_protocol_attributes_read_or_swapped() -> None:
    # Set in __init__ or connection_made: found in the source rather than on an instance.
    import inspect

    source = inspect.getsource(WebSocketsSansIOProtocol)
    for name in ("self.transport", "self.queue", "self.conn", "self.close_sent",
                 "self.close_timer", "self.read_paused", "self.handshake_complete",
                 "self.writable", "self.frames", "self.curr_msg_data_type", "self.request",
                 "self.response", "self.loop", "self.close_timeout", "self.scope",
                 "self.handshake_initiated", "self.initial_response", "self.default_headers",
                 "self.tasks", "self.app_state", "self.root_path", "self.asgi_version",
                 "self.scheme", "self.server", "self.client", "self.logger"):
        assert name in source, recheck(f"WebSocketsSansIOProtocol's attribute {name}", OURS,
                                       "uvicorn", VERIFIED)
    for method in ("resume_writing", "connection_lost", "send_500_response", "handle_events",
                   "on_task_complete", "start_keepalive"):
        assert callable(getattr(WebSocketsSansIOProtocol, method, None)), recheck(
            f"WebSocketsSansIOProtocol.{method}", OURS, "uvicorn", VERIFIED)


def test_the_http_protocol_extended_for_upgrades() -> None:
    # realtime/wire/uvicorn_http.py drops the parser after handle_websocket_upgrade, as
    # connection_lost does (which an upgraded connection never calls on it).
    import inspect

    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    ours = "realtime/wire/uvicorn_http.py (UpgradingHttpProtocol)"
    assert_source(HttpToolsProtocol.handle_websocket_upgrade, "d5da377bfc77e588",
                  what="HttpToolsProtocol.handle_websocket_upgrade", ours=ours,
                  package="uvicorn", verified=VERIFIED)
    assert "self.parser = None" in inspect.getsource(HttpToolsProtocol.connection_lost), recheck(
        "HttpToolsProtocol.connection_lost (no longer breaks the parser's cycle)", ours,
        "uvicorn", VERIFIED)


# realtime/wire/uvicorn_http.py (ConnectionStart) takes the HTTP protocol's place for a
# connection's first bytes: built as uvicorn's Server.startup builds it, and an upgrade read
# straight from the client's bytes only where uvicorn's HTTP protocol would upgrade it too (its
# last Connection header naming `upgrade`, an `Upgrade: websocket`) and hand it over as it reads
# it (header names in lower case, values without trailing spaces and tabs, the target as sent).
HTTP_FOLLOWED = [
    ("_get_upgrade", "7b1305aac7b87064"),
    ("_should_upgrade", "8fcad1ab8e096739"),
    ("on_header", "1e86ebb6cea0458c"),
    ("on_headers_complete", "1ea8589acfad92d8"),
    ("connection_made", "6efb565ff3d36b91"),
]


@pytest.mark.parametrize(("name", "expected"), HTTP_FOLLOWED,
                         ids=[row[0] for row in HTTP_FOLLOWED])
def test_the_http_protocols_upgrade_decision_is_unchanged(name: str, expected: str) -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert_source(getattr(HttpToolsProtocol, name), expected,
                  what=f"HttpToolsProtocol.{name}",
                  ours="realtime/wire/uvicorn_http.py (ConnectionStart) and "
                       "realtime/wire/ws_handshake.py (read_upgrade with raw)",
                  package="uvicorn", verified=VERIFIED)


def test_the_http_protocol_is_built_as_connection_start_is() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    ours = "realtime/wire/uvicorn_http.py (ConnectionStart)"
    assert_signature(HttpToolsProtocol.__init__,
                     "(self, config: 'Config', server_state: 'ServerState', "
                     "app_state: 'dict[str, Any]', _loop: 'asyncio.AbstractEventLoop | None' "
                     "= None) -> 'None'",
                     what="HttpToolsProtocol.__init__", ours=ours, package="uvicorn",
                     verified=VERIFIED)
    assert_source(uvicorn.Server.startup, "2aa1d70a244bfcf2", what="Server.startup",
                  ours=ours, package="uvicorn", verified=VERIFIED)


# realtime/wire/uvicorn_server.py (PromptServer): main_loop and shutdown (with
# _wait_tasks_to_complete) copied without their fixed waits; handle_exit extended.
SERVER_FOLLOWED = [
    ("main_loop", "afccb353a119333f"),
    ("shutdown", "5d01b8b1f116a786"),
    ("_wait_tasks_to_complete", "17209be1e991445d"),
    ("handle_exit", "553276efa26e09ea"),
]


@pytest.mark.parametrize(("name", "expected"), SERVER_FOLLOWED,
                         ids=[row[0] for row in SERVER_FOLLOWED])
def test_the_server_steps_followed_are_unchanged(name: str, expected: str) -> None:
    assert_source(getattr(uvicorn.Server, name), expected, what=f"Server.{name}",
                  ours="realtime/wire/uvicorn_server.py (PromptServer)", package="uvicorn",
                  verified=VERIFIED)
