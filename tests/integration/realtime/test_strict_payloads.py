"""The socket is as strict as REST: a value of the wrong JSON type is refused, never coerced
(`"typing": "yes"` is not true, `"since": "3"` is not 3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock

pytestmark = pytest.mark.slow


async def test_values_of_the_wrong_type_are_refused_not_coerced(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    server = start_server()
    sock = await socks().connect(server.url, alice.token)
    assert (await sock.join(room))["ok"]
    refused: list[tuple[str, dict[str, Any]]] = [
        ("typing", {"room": room, "typing": "yes"}),
        ("typing", {"room": room, "typing": "true"}),
        ("typing", {"room": room, "typing": 1}),
        ("typing", {"room": room, "typing": 0}),
        ("join", {"room": room, "since": "3"}),
        ("join", {"room": room, "since": 3.0}),
        ("join", {"room": room, "since": True}),
        ("join", {"room": room, "since": 0, "previous": 7}),
        ("join", {"room": room, "since": 0, "previous": "proc/sid"}),  # a socket id has no `/`
        ("join", {"room": room, "since": 0, "previous": ""}),
        ("join", {"room": room, "since": 0, "previous": "s" * 65}),
        ("message", {"room": room, "text": 5}),
        ("message", {"room": room, "text": "hi", "client_id": 7}),
        ("presence:set", {"room": room, "status": 1}),
        ("leave", {"room": ["meeting", "x"]}),
        ("auth:refresh", {"token": 12345}),
    ]
    for event, payload in refused:
        ack = await sock.call(event, payload)
        assert not ack["ok"] and ack["error"]["code"] == "validation_error", (event, payload, ack)
    # The right types are still taken.
    assert (await sock.call("typing", {"room": room, "typing": True})) == {"ok": True}
    assert (await sock.join(room, since=0))["ok"]
    assert (await sock.join(room, since=0, previous="Zk3-_x0AAAB"))["ok"]
