"""python-socketio internals that realtime/wire/socketio_server.py and
realtime/wire/socketio_manager.py use."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import socketio
from socketio.base_manager import BaseManager

from realtime.wire.socketio_manager import IndexedManager, PendingSids
from realtime.wire.socketio_server import connected_sid, engine_sid, participants
from tests.canary.upstream import assert_signature, assert_source, recheck

VERIFIED = "5.18.1"
OURS = "realtime/wire/socketio_server.py"


def test_the_verified_release_is_installed() -> None:
    assert version("python-socketio").startswith("5.18."), recheck(
        "its release", OURS, "python-socketio", VERIFIED)


def test_send_packet_is_unchanged() -> None:
    assert_signature(socketio.AsyncServer._send_packet, "(self, eio_sid, pkt)",
                     what="AsyncServer._send_packet", ours=f"{OURS} (DirectServer)",
                     package="python-socketio", verified=VERIFIED)
    assert_source(socketio.AsyncServer._send_packet, "a00022b42c1c29e9",
                  what="AsyncServer._send_packet", ours=f"{OURS} (DirectServer)",
                  package="python-socketio", verified=VERIFIED)


async def test_manager_rooms_maps_namespace_room_sid_to_engineio_sid() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    manager = sio.manager
    sid = await manager.connect("eio-1", "/")
    await manager.enter_room(sid, "/", "project:p1", eio_sid="eio-1")
    assert manager.rooms["/"]["project:p1"] == {sid: "eio-1"}, recheck(
        "the layout of `manager.rooms` (namespace -> room -> sid -> Engine.IO sid)",
        f"{OURS} (room_members, room_names)", "python-socketio", VERIFIED)


def test_handle_connect_is_unchanged() -> None:
    ours = f"{OURS} (handle_connect, called by realtime/inbound.py)"
    assert_signature(socketio.AsyncServer._handle_connect, "(self, eio_sid, namespace, data)",
                     what="AsyncServer._handle_connect", ours=ours, package="python-socketio",
                     verified=VERIFIED)
    assert_source(socketio.AsyncServer._handle_connect, "c97c480cf777de36",
                  what="AsyncServer._handle_connect", ours=ours, package="python-socketio",
                  verified=VERIFIED)


MAPPINGS = {  # the manager's methods realtime/wire/socketio_server.py asks, with their signature
    "eio_sid_from_sid": "(self, sid, namespace)",
    "sid_from_eio_sid": "(self, eio_sid, namespace)",
    "is_connected": "(self, sid, namespace)",
    "get_participants": "(self, namespace, room)",
}


@pytest.mark.parametrize(("name", "signature"), MAPPINGS.items())
def test_the_manager_methods_asked_keep_their_signature(name: str, signature: str) -> None:
    assert_signature(getattr(socketio.AsyncManager, name), signature,
                     what=f"AsyncManager.{name}",
                     ours=f"{OURS} (engine_sid, connected_sid, participants)",
                     package="python-socketio", verified=VERIFIED)


async def test_the_manager_maps_sids_both_ways_and_lists_a_rooms_participants() -> None:
    sio = socketio.AsyncServer(async_mode="asgi")
    sid = await sio.manager.connect("eio-1", "/")
    await sio.manager.enter_room(sid, "/", "project:p1", eio_sid="eio-1")
    ours = f"{OURS} (engine_sid, connected_sid, participants)"
    assert engine_sid(sio, sid) == "eio-1", recheck(
        "`AsyncManager.eio_sid_from_sid`", ours, "python-socketio", VERIFIED)
    assert connected_sid(sio, "eio-1") == sid, recheck(
        "`AsyncManager.sid_from_eio_sid` or `is_connected`", ours, "python-socketio", VERIFIED)
    assert participants(sio, "project:p1") == [sid], recheck(
        "`AsyncManager.get_participants`", ours, "python-socketio", VERIFIED)
    await sio.manager.disconnect(sid, "/")
    assert (engine_sid(sio, sid), connected_sid(sio, "eio-1"),
            participants(sio, "project:p1")) == (None, None, []), recheck(
        "what the manager answers for a disconnected socket", ours, "python-socketio", VERIFIED)


def test_eio_connect_keeps_the_environ_it_is_given() -> None:
    """DirectServer hands python-socketio's `_handle_eio_connect` the kept part of the environ
    (`kept_environ`), which python-socketio then keeps and gives to every CONNECT's handler."""
    assert_signature(socketio.AsyncServer._handle_eio_connect, "(self, eio_sid, environ)",
                     what="AsyncServer._handle_eio_connect",
                     ours=f"{OURS} (DirectServer._handle_eio_connect, kept_environ)",
                     package="python-socketio", verified=VERIFIED)
    assert_source(socketio.AsyncServer._handle_eio_connect, "76704886d944a7e6",
                  what="AsyncServer._handle_eio_connect",
                  ours=f"{OURS} (DirectServer._handle_eio_connect, kept_environ)",
                  package="python-socketio", verified=VERIFIED)


PENDING = {  # upstream's methods that use the pending tables as lists: their source as verified
    "pre_connect": "bfdba4c0c8f1bd8a",
    "connect": "a0214ac7cb24346c",
    "is_pre_connected": "40a897c4ab2ccc5d",
    "is_connected": "d37721466718b4f4",
    "pre_disconnect": "18a8d01ed87a9682",
}


@pytest.mark.parametrize(("name", "expected"), PENDING.items())
def test_the_pending_tables_are_used_as_verified(name: str, expected: str) -> None:
    """realtime/wire/socketio_manager.py's PendingTable stands in for the lists these methods
    create (by item assignment), append to, remove from and search."""
    assert_source(getattr(BaseManager, name), expected, what=f"BaseManager.{name}",
                  ours="realtime/wire/socketio_manager.py (PendingTable, PendingSids)",
                  package="python-socketio", verified=VERIFIED)


async def test_a_pending_socket_is_kept_in_the_constant_time_table() -> None:
    manager = IndexedManager()
    manager.set_server(socketio.AsyncServer(async_mode="asgi"))
    sid = await manager.pre_connect("eio-1", "/")
    assert type(manager.pending_connect["/"]) is PendingSids, recheck(
        "how `pre_connect` creates a namespace's pending list",
        "realtime/wire/socketio_manager.py (PendingTable)", "python-socketio", VERIFIED)
    assert manager.is_pre_connected(sid, "/") and not manager.is_connected(sid, "/")
    await manager.connect(sid, "/")
    assert manager.is_connected(sid, "/") and "/" not in manager.pending_connect
    manager.pre_disconnect(sid, "/")
    assert type(manager.pending_disconnect["/"]) is PendingSids, recheck(
        "how `pre_disconnect` creates a namespace's pending list",
        "realtime/wire/socketio_manager.py (PendingTable)", "python-socketio", VERIFIED)
    assert not manager.is_connected(sid, "/")
    await manager.disconnect(sid, "/")
    assert "/" not in manager.pending_disconnect
