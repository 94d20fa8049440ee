"""The direct-write fan-out delivers the right frames to the right sockets, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock

pytestmark = pytest.mark.slow

LISTENERS = 120
MESSAGES = 15


async def metric(url: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{url}/metrics")).text
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith(name + " "))


async def test_many_recipients_get_every_frame_in_order(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    users = [seed.user() for _ in range(LISTENERS + 1)]
    publisher_user, listener_users = users[0], users[1:]
    outsider = seed.user("outsider")
    room = f"meeting:{seed.meeting(seed.project(*users), publisher_user)}"
    other = f"meeting:{seed.meeting(seed.project(outsider), outsider)}"
    server = start_server(socket_events_per_second="1000", socket_event_burst="1000")

    listeners = await asyncio.gather(*(socks().connect(server.url, u.token)
                                       for u in listener_users))
    publisher = await socks().connect(server.url, publisher_user.token)
    elsewhere = await socks().connect(server.url, outsider.token)
    joins = await asyncio.gather(*(s.join(room) for s in [*listeners, publisher]))
    assert all(ack["ok"] for ack in joins), [a for a in joins if not a["ok"]][:3]
    assert (await elsewhere.join(other))["ok"]

    for n in range(MESSAGES):
        ack = await publisher.call("message", {"room": room, "text": f"m{n}-" + "x" * (n * 20)})
        assert ack["ok"], ack

    expected = [f"m{n}-" + "x" * (n * 20) for n in range(MESSAGES)]
    for sock in listeners:
        await sock.wait_for(lambda s=sock: len(s.named("message")) >= MESSAGES, within=30)
        got = sock.named("message")
        assert [m["text"] for m in got] == expected
        offsets = [m["offset"] for m in got]
        assert offsets == sorted(offsets) and len(set(offsets)) == MESSAGES
    # Nothing leaked into a room the frames were not for.
    assert elsewhere.named("message") == []
    # The frames took the direct path (some may take the queue while a ping is in flight).
    assert await metric(server.url, "roomcast_direct_writes_total") > LISTENERS * MESSAGES / 2
