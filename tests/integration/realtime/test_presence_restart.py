"""The embedded default's presence across a restart. Stopped normally, the server saves who is
in each room and the next start holds them for PRESENCE_TTL_SECONDS: clients coming back find
the room as they left it, a user who returns is announced to nobody (unless something about
them changed), and one who does not leaves once the time is up. A crash saves nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock

pytestmark = pytest.mark.slow

HOLD = 10  # PRESENCE_TTL_SECONDS: a restart here takes a few seconds, well within it


def users(ack: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((p["name"], p["status"], p["connections"]) for p in ack["presence"])


async def test_a_normal_restart_keeps_presence_and_who_does_not_return_leaves(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    alice, bob, carol, dave = (seed.user(name) for name in ("alice", "bob", "carol", "dave"))
    room = f"meeting:{seed.meeting(seed.project(alice, bob, carol, dave), alice)}"
    data_dir = str(tmp_path / "data")
    env = {"data_dir": data_dir, "presence_ttl_seconds": str(HOLD)}
    server = start_server(**env)
    before = {}
    for user in (alice, bob, carol, dave):
        sock = await socks().connect(server.url, user.token)
        before[user.name] = await sock.join(room)
    server.stop()
    assert (tmp_path / "data" / "presence.saved").exists()

    server = start_server(**env)
    assert not (tmp_path / "data" / "presence.saved").exists()  # taken back, then removed
    a = await socks().connect(server.url, alice.token)
    ack = await a.join(room, since=before["alice"]["offset"], epoch=before["alice"]["epoch"])
    assert ack["recovered"] is True
    # As the room was before the stop: the others are held, Alice is back.
    everyone = [("alice", "online", 1), ("bob", "online", 1), ("carol", "online", 1),
                ("dave", "online", 1)]
    assert users(ack) == everyone

    c = await socks().connect(server.url, carol.token)
    assert users(await c.join(room)) == everyone  # Carol is back as she was: no news
    b = await socks().connect(server.url, bob.token)
    back = await b.join(room, status="away")  # Bob comes back away: that is news
    assert users(back)[1] == ("bob", "away", 1)
    again = await socks().connect(server.url, bob.token)
    await again.join(room)  # and a second tab: counted as any other
    updated = await a.wait_for(lambda: len(a.named("presence:updated")) >= 2
                               and a.named("presence:updated"))
    assert [(u["user"]["name"], u["user"]["status"], u["user"]["connections"])
            for u in updated] == [("bob", "away", 1), ("bob", "online", 2)]

    # Dave does not come back: once the time is up he leaves, told as any departure.
    left = await a.wait_for(lambda: a.named("presence:left"), within=HOLD + 20)
    assert [entry["user_id"] for entry in left] == [dave.id]
    assert a.named("presence:joined") == []  # nobody was announced twice
    assert len(a.named("presence:updated")) == 2  # and Carol not at all
    assert users(await a.join(room)) == [("alice", "online", 1), ("bob", "online", 2),
                                         ("carol", "online", 1)]


async def test_a_crash_keeps_no_presence(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    data_dir = str(tmp_path / "data")
    server = start_server(data_dir=data_dir)
    for user in (alice, bob):
        await (await socks().connect(server.url, user.token)).join(room)
    server.kill()
    assert not (tmp_path / "data" / "presence.saved").exists()

    server = start_server(data_dir=data_dir)
    a = await socks().connect(server.url, alice.token)
    assert users(await a.join(room)) == [("alice", "online", 1)]
    b = await socks().connect(server.url, bob.token)
    await b.join(room)
    joined = await a.wait_for(lambda: a.named("presence:joined"))
    assert [j["user"]["name"] for j in joined] == ["bob"]
