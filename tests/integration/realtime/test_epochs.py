"""A room's history that was reset (Redis restarted empty, the embedded server stopped without
saving its rooms: a crash) is never recovered from an offset counted before the reset: the
epoch the client sends back with `since` is not the room's any more, so the join says
`recovered: false`. An embedded server stopped normally takes its rooms back when it starts
again: the same epoch, offsets that go on, and what a client missed recovered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, SeedUser, Sock
from tests.integration.realtime.test_outage import connect_when_up
from tests.support.services import ServerProcess, start_redis

pytestmark = pytest.mark.slow


async def send(sock: Sock, room: str, count: int) -> list[int]:
    acks = [await sock.call("message", {"room": room, "text": f"m{n}"}) for n in range(count)]
    assert all(ack["ok"] for ack in acks), acks
    return [ack["offset"] for ack in acks]


async def seen_by(sock: Sock, room: str, count: int) -> dict[str, Any]:
    """The last of `count` messages the socket received (its offset and epoch)."""
    got = await sock.wait_for(lambda: len(sock.named("message")) >= count and sock.named(
        "message"))
    last: dict[str, Any] = got[-1]
    assert last["room"] == room and last["offset"] == count and last["epoch"]
    return last


async def rejoin(socks: Callable[[], Sock], url: str, user: SeedUser, room: str,
                 **since: Any) -> tuple[dict[str, Any], Sock]:
    sock = await socks().connect(url, user.token)
    ack: dict[str, Any] = await sock.join(room, **since)
    assert ack["ok"] is True, ack
    return ack, sock


async def test_redis_restarted_empty_is_not_recovered_from_an_old_offset(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    redis = start_redis()
    try:
        server = start_server(redis_url=redis.url)
        a = await socks().connect(server.url, alice.token)
        b = await socks().connect(server.url, bob.token)
        await a.join(room)
        joined = await b.join(room)
        assert await send(a, room, 5) == [1, 2, 3, 4, 5]
        last = await seen_by(b, room, 5)
        assert last["epoch"] == joined["epoch"]  # the empty room's epoch, given at the join
        await b.close()

        redis.kill()
        redis = start_redis(redis.port)  # empty: the room's offsets start again at 1
        writer = await connect_when_up(socks, server.url, alice.token)
        fresh = await writer.join(room)
        assert fresh["offset"] == 0 and fresh["epoch"] != last["epoch"]
        assert await send(writer, room, 8) == list(range(1, 9))

        below, sock = await rejoin(socks, server.url, bob, room, since=5, epoch=last["epoch"])
        assert (below["recovered"], below["replayed"]) == (False, 0)
        assert below["epoch"] == fresh["epoch"] and below["offset"] == 8
        assert sock.named("message") == []
        at_latest, _ = await rejoin(socks, server.url, bob, room, since=8, epoch=last["epoch"])
        assert at_latest["recovered"] is False
        unknown, _ = await rejoin(socks, server.url, bob, room, since=5)  # no epoch sent
        assert unknown["recovered"] is False
        right, again = await rejoin(socks, server.url, bob, room, since=5, epoch=fresh["epoch"])
        assert (right["recovered"], right["replayed"]) == (True, 3)
        assert [m["offset"] for m in again.named("message")] == [6, 7, 8]
    finally:
        redis.kill()
    assert "Traceback" not in server.log()


Talk = tuple[ServerProcess, SeedUser, SeedUser, str, Sock, Sock, dict[str, Any]]


async def three_seen(seed: Seed, start_server: StartServer, socks: Callable[[], Sock],
                     data_dir: str) -> Talk:
    """An embedded server on `data_dir`; Alice and Bob in a meeting room of their project,
    Alice sends three messages and Bob sees them. Returns the server, both users, the room,
    both sockets and the last message Bob saw."""
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server(data_dir=data_dir)
    server_url = server.url
    a = await socks().connect(server_url, alice.token)
    b = await socks().connect(server_url, bob.token)
    await a.join(room)
    await b.join(room)
    await send(a, room, 3)
    return server, alice, bob, room, a, b, await seen_by(b, room, 3)


async def test_embedded_server_crashed_is_not_recovered_from_an_old_offset(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    server, alice, bob, room, a, b, last = await three_seen(seed, start_server, socks, data_dir)
    await a.close()
    await b.close()
    server.kill()  # no normal stop: its rooms are not saved
    assert not (tmp_path / "data" / "rooms.saved").exists()

    server = start_server(data_dir=data_dir)  # the same store, a new room history
    writer = await socks().connect(server.url, alice.token)
    fresh = await writer.join(room)
    assert fresh["epoch"] != last["epoch"]
    await send(writer, room, 3)
    at_latest, _ = await rejoin(socks, server.url, bob, room, since=3, epoch=last["epoch"])
    assert (at_latest["recovered"], at_latest["offset"]) == (False, 3)
    await send(writer, room, 2)
    below, sock = await rejoin(socks, server.url, bob, room, since=3, epoch=last["epoch"])
    assert (below["recovered"], below["replayed"]) == (False, 0)
    assert sock.named("message") == []


async def test_embedded_server_stopped_and_started_recovers_what_was_missed(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    server, alice, bob, room, a, b, last = await three_seen(seed, start_server, socks, data_dir)
    await b.close()
    assert await send(a, room, 2) == [4, 5]  # sent while bob is away, before the stop
    await a.close()
    server.stop()
    assert (tmp_path / "data" / "rooms.saved").exists()

    server = start_server(data_dir=data_dir)  # the same store and the same rooms
    assert not (tmp_path / "data" / "rooms.saved").exists()  # taken back, then removed
    writer = await socks().connect(server.url, alice.token)
    again = await writer.join(room)
    assert (again["epoch"], again["offset"]) == (last["epoch"], 5)
    assert await send(writer, room, 1) == [6]  # offsets go on in the same epoch
    ack, sock = await rejoin(socks, server.url, bob, room, since=3, epoch=last["epoch"])
    assert (ack["recovered"], ack["replayed"], ack["offset"]) == (True, 3, 6)
    assert [m["text"] for m in sock.named("message")] == ["m0", "m1", "m0"]
    assert [m["offset"] for m in sock.named("message")] == [4, 5, 6]
    server.kill()  # a crash after that start: nothing saved comes back
    server = start_server(data_dir=data_dir)
    late, _ = await rejoin(socks, server.url, bob, room, since=6, epoch=last["epoch"])
    assert late["recovered"] is False and late["epoch"] != last["epoch"]
