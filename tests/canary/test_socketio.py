"""python-socketio internals that realtime/wire/socketio_server.py uses."""

from __future__ import annotations

from importlib.metadata import version

import socketio

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
