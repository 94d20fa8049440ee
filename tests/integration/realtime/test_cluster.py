"""Two `roomcast serve` processes over one Redis: presence, recovery, the emitter, revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from realtime.emitter import KEY_PREFIX, RedisEmitter
from realtime.presence import RedisPresenceStore
from realtime.redislink import RedisAddress, RedisLink
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.support.services import RedisServer

pytestmark = pytest.mark.slow

PRESENCE_TTL = 3.0  # seconds
MARGIN = 1.5  # seconds over the bound, for a loaded machine


def users_in(ack_or_presence: list[dict[str, object]]) -> dict[object, object]:
    return {p["user_id"]: p["connections"] for p in ack_or_presence}


async def test_presence_two_tabs_and_two_processes(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(alice, bob)}"
    one, two = start_server.many(2, redis_url=rt_redis.url)
    b = await socks().connect(two.url, bob.token)
    assert users_in((await b.join(room))["presence"]) == {bob.id: 1}

    tab1 = await socks().connect(one.url, alice.token)
    tab2 = await socks().connect(two.url, alice.token)
    await tab1.join(room, status="busy")
    ack = await tab2.join(room)
    assert users_in(ack["presence"]) == {alice.id: 2, bob.id: 1}

    joined = await b.wait_for(lambda: b.named("presence:joined"))
    assert [j["user"]["user_id"] for j in joined] == [alice.id]
    await b.wait_for(lambda: any(u["user"]["connections"] == 2
                                 for u in b.named("presence:updated")))
    typing = await tab1.call("typing", {"room": room, "typing": True})
    assert typing == {"ok": True}
    seen = await b.wait_for(lambda: b.named("presence:typing"))
    assert seen == [{"room": room, "user_id": alice.id, "typing": True}]
    assert tab1.named("presence:typing") == []  # not echoed to the sender

    await tab1.close()
    await b.wait_for(lambda: b.named("presence:updated")[-1]["user"]["connections"] == 1)
    assert b.named("presence:left") == []
    await tab2.call("leave", {"room": room})
    left = await b.wait_for(lambda: b.named("presence:left"))
    assert left == [{"room": room, "user_id": alice.id}]


async def test_killed_process_leaves_presence(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    project = seed.project(alice, bob)
    meeting = seed.meeting(project, alice)
    room = f"meeting:{meeting}"
    env = {"redis_url": rt_redis.url, "presence_ttl_seconds": str(PRESENCE_TTL)}
    doomed, survivor = start_server.many(2, **env)
    a = await socks().connect(doomed.url, alice.token)
    b = await socks().connect(survivor.url, bob.token)
    await a.join(room)
    assert users_in((await b.join(room))["presence"]) == {alice.id: 1, bob.id: 1}

    doomed.kill()
    # Within the documented bound, PRESENCE_TTL_SECONDS, plus a margin for a busy machine.
    left = await b.wait_for(lambda: b.named("presence:left"), within=PRESENCE_TTL + MARGIN)
    assert left == [{"room": room, "user_id": alice.id}]
    b2 = await socks().connect(survivor.url, bob.token)
    assert users_in((await b2.join(room))["presence"]) == {bob.id: 2}
    assert survivor.proc.poll() is None


async def test_a_rejoin_that_names_its_connection_on_a_dead_process_takes_its_place(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob, carol, dave, erin = (seed.user(n)
                                     for n in ("alice", "bob", "carol", "dave", "erin"))
    room = f"meeting:{seed.meeting(seed.project(alice, bob, carol, dave, erin), alice)}"
    env = {"redis_url": rt_redis.url, "presence_ttl_seconds": str(PRESENCE_TTL)}
    doomed, survivor = start_server.many(2, **env)
    gone = {}
    for user in (alice, carol, dave, erin):
        sock = await socks().connect(doomed.url, user.token)
        await sock.join(room, **({"status": "away"} if user is erin else {}))
        gone[user.id] = sock.client.get_sid("/")
    b = await socks().connect(survivor.url, bob.token)
    await b.join(room)
    bob_sid = b.client.get_sid("/")

    doomed.kill()
    # Alice names the connection she had: she takes its place, counted once.
    a2 = await socks().connect(survivor.url, alice.token)
    ack = await a2.join(room, since=0, previous=gone[alice.id])
    assert users_in(ack["presence"]) == {alice.id: 1, bob.id: 1, carol.id: 1, dave.id: 1,
                                         erin.id: 1}
    # Erin takes her place too, but online now, no longer away: the room hears only that.
    e2 = await socks().connect(survivor.url, erin.token)
    ack = await e2.join(room, since=0, previous=gone[erin.id])
    assert users_in(ack["presence"])[erin.id] == 1
    # Carol names none: her dead process's connection counts until it is reaped.
    c2 = await socks().connect(survivor.url, carol.token)
    assert users_in((await c2.join(room, since=0))["presence"])[carol.id] == 2
    # Dave names Carol's old connection: not his, so nothing is taken.
    d2 = await socks().connect(survivor.url, dave.token)
    ack = await d2.join(room, since=0, previous=gone[carol.id])
    assert users_in(ack["presence"])[dave.id] == 2 and users_in(ack["presence"])[carol.id] == 2
    # Bob's second tab names his first, still open on this process: nothing is taken.
    b2 = await socks().connect(survivor.url, bob.token)
    assert users_in((await b2.join(room, previous=bob_sid))["presence"])[bob.id] == 2

    def about(user_id: str) -> list[Any]:
        return [e for name in ("presence:joined", "presence:updated", "presence:left")
                for e in b.named(name)
                if (e.get("user") or {}).get("user_id", e.get("user_id")) == user_id]

    # The reaping of the dead process: Carol and Dave are back to one connection each.
    def reaped() -> bool:
        return all(any(e.get("user", {}).get("connections") == 1 for e in about(user.id))
                   for user in (carol, dave))

    await b.wait_for(reaped, within=PRESENCE_TTL + MARGIN)
    assert about(alice.id) == []  # the room heard nothing of Alice's move
    assert [e["user"] for e in about(erin.id)] == [
        {"user_id": erin.id, "name": "erin", "status": "online", "connections": 1}]
    assert b.named("presence:left") == []
    ack = await b.join(room)  # a repeated join answers the room as it stands
    assert users_in(ack["presence"]) == {alice.id: 1, bob.id: 2, carol.id: 1, dave.id: 1,
                                         erin.id: 1}
    await a2.close()
    left = await b.wait_for(lambda: b.named("presence:left"))
    assert left == [{"room": room, "user_id": alice.id}]


async def test_a_connection_whose_place_was_taken_still_ends_its_stay(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    """A rejoin may name a connection that is still open elsewhere (a network change the old
    process has not noticed yet): when that one goes, it has no presence entry left to
    remove, and its meeting stay ends all the same."""
    alice, bob = seed.user("alice"), seed.user("bob")
    meeting = seed.meeting(seed.project(alice, bob), alice)
    room = f"meeting:{meeting}"
    one, two = start_server.many(2, redis_url=rt_redis.url)
    a = await socks().connect(one.url, alice.token)
    await a.join(room)
    a2 = await socks().connect(two.url, alice.token)
    ack = await a2.join(room, since=0, previous=a.client.get_sid("/"))
    assert users_in(ack["presence"]) == {alice.id: 1}

    async def alice_left_at() -> object:
        async with httpx.AsyncClient(base_url=one.url, timeout=30) as http:
            page = await http.get(f"/api/v1/meetings/{meeting}/participants",
                                  headers={"Authorization": f"Bearer {bob.token}"})
        assert page.status_code == 200, page.text
        return next(p for p in page.json()["items"] if p["user_id"] == alice.id)["last_left_at"]

    assert await alice_left_at() is None
    await a.close()
    for _ in range(600):  # the stay ends as the disconnect is handled: bounded, not timed
        if await alice_left_at() is not None:
            break
        await asyncio.sleep(0.05)
    assert await alice_left_at() is not None


async def test_an_entry_left_behind_is_swept_and_announced(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server(redis_url=rt_redis.url, presence_ttl_seconds=str(PRESENCE_TTL))
    b = await socks().connect(server.url, bob.token)
    await b.join(room)
    redis = Redis.from_url(rt_redis.url)
    try:
        # What a removal that never reached Redis leaves behind: an entry of the serving
        # process for a socket it no longer holds.
        bob_sid = b.client.get_sid("/")
        procs = [p.decode() for p in await redis.smembers(f"{KEY_PREFIX}procs:")]
        owner = [p for p in procs
                 if await redis.sismember(f"{KEY_PREFIX}conns:{p}", f"{room}\t{bob_sid}")]
        assert len(owner) == 1, procs
        link = RedisLink(RedisAddress.of(redis))
        left_behind = RedisPresenceStore(redis, link=link, process_id=owner[0],
                                         ttl=PRESENCE_TTL, prefix=KEY_PREFIX)
        await left_behind.add(room, "gone-sid", alice.id, "alice", "online")
        await link.close()
        peek = await socks().connect(server.url, bob.token)
        assert alice.id in users_in((await peek.join(room))["presence"])

        left = await b.wait_for(lambda: b.named("presence:left"), within=PRESENCE_TTL + MARGIN)
        assert left == [{"room": room, "user_id": alice.id}]
        assert users_in((await peek.join(room))["presence"]) == {bob.id: 2}
    finally:
        await redis.aclose()


async def test_recovery_on_the_other_process(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    one, two = start_server.many(2, redis_url=rt_redis.url, stream_max_len="5")
    a = await socks().connect(one.url, alice.token)
    b = await socks().connect(one.url, bob.token)
    await a.join(room)
    await b.join(room)
    first = await a.call("message", {"room": room, "text": "hello"})
    assert first["ok"] is True
    await b.wait_for(lambda: b.named("message"))
    last_seen, epoch = b.named("message")[-1]["offset"], b.named("message")[-1]["epoch"]
    assert last_seen == first["offset"]
    await b.close()

    sent = [await a.call("message", {"room": room, "text": f"m{i}"}) for i in range(3)]
    back = await socks().connect(two.url, bob.token)
    ack = await back.join(room, since=last_seen, epoch=epoch)
    assert ack["recovered"] is True and ack["replayed"] == 3 and ack["epoch"] == epoch
    assert ack["offset"] == sent[-1]["offset"]
    missed = back.named("message")
    assert [m["text"] for m in missed] == ["m0", "m1", "m2"]
    assert [m["offset"] for m in missed] == [s["offset"] for s in sent]

    # Past the history: the stream keeps 5 entries, 20 more were sent.
    for i in range(20):
        await a.call("message", {"room": room, "text": f"n{i}"})
    late = await socks().connect(two.url, bob.token)
    stale = await late.join(room, since=last_seen, epoch=epoch)
    assert stale["recovered"] is False and stale["replayed"] == 0
    assert late.named("message") == []

    auth = {"Authorization": f"Bearer {bob.token}"}
    async with httpx.AsyncClient(base_url=one.url, headers=auth) as http:
        stored = await http.get(f"/api/v1/meetings/{room[8:]}/messages?limit=2")
        engagement = (await http.get(f"/api/v1/meetings/{room[8:]}/engagement")).json()
    assert stored.status_code == 200
    assert stored.json()["total"] == 24 and stored.json()["items"][0]["text"] == "hello"
    per_user = {u["user_id"]: u for u in engagement["users"]}
    assert per_user[alice.id]["messages"] == 24 and per_user[alice.id]["present_now"] is True
    assert per_user[bob.id]["sessions"] == 1 and per_user[bob.id]["present_now"] is False


async def test_emitter_from_another_process_and_revocation(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    head, bob = seed.user("head"), seed.user("bob")
    project = seed.project(head, bob)
    meeting = seed.meeting(project, head)
    one, two = start_server.many(2, redis_url=rt_redis.url)
    on_one = await socks().connect(one.url, bob.token)
    on_two = await socks().connect(two.url, bob.token)
    watcher = await socks().connect(two.url, head.token)
    for sock in (on_one, on_two):
        await sock.join(f"project:{project}")
        await sock.join(f"meeting:{meeting}")
    await watcher.join(f"project:{project}")

    settings = Settings(env="test", redis_url=rt_redis.url, data_dir=tmp_path,
                        _env_file=None)  # type: ignore[call-arg]
    redis = Redis.from_url(rt_redis.url)
    mongo, db = open_mongo(settings)
    emitter = RedisEmitter(redis, Stores.over(db), settings)
    try:
        offset = await emitter.emit(f"project:{project}", "job.progress", {"progress": 10})
        note = await emitter.notify(bob.id, kind="test", title="hi")
    finally:
        await emitter.close()
        await redis.aclose()
    for sock in (on_one, on_two):
        got = await sock.wait_for(lambda s=sock: s.named("job.progress"))
        assert got == [{"room": f"project:{project}", "offset": offset,
                        "epoch": got[0]["epoch"], "progress": 10}]
        notes = await sock.wait_for(lambda s=sock: s.named("notification"))
        assert notes[0]["id"] == note["id"] and notes[0]["room"] == f"user:{bob.id}"
    later = await socks().connect(two.url, bob.token)
    replay = await later.join(f"user:{bob.id}", since=notes[0]["offset"] - 1,
                              epoch=notes[0]["epoch"])
    assert replay["recovered"] is True and replay["replayed"] == 1
    assert [n["id"] for n in later.named("notification")] == [note["id"]]

    async with httpx.AsyncClient(base_url=one.url) as http:
        removed = await http.delete(f"/api/v1/projects/{project}/members/{bob.id}",
                                    headers={"Authorization": f"Bearer {head.token}"})
    assert removed.status_code == 204, removed.text
    for sock in (on_one, on_two):
        revoked = await sock.wait_for(lambda s=sock: len(s.named("room:revoked")) == 2 and
                                      s.named("room:revoked"))
        assert {r["room"] for r in revoked} == {f"project:{project}", f"meeting:{meeting}"}
        assert revoked[0]["code"] == "membership_revoked"
        not_joined = await sock.call("typing", {"room": f"project:{project}", "typing": True})
        assert not_joined["error"]["code"] == "not_joined"
    await watcher.wait_for(lambda: watcher.named("presence:left"))
    # Events into the project room no longer reach the removed user.
    await asyncio.sleep(0)
    before = len(on_two.named("task.created"))
    redis2 = Redis.from_url(rt_redis.url)
    emitter2 = RedisEmitter(redis2, Stores.over(db), settings)
    try:
        await emitter2.emit(f"project:{project}", "task.created", {"n": 1})
    finally:
        await emitter2.close()
        await redis2.aclose()
    await watcher.wait_for(lambda: watcher.named("task.created"))
    assert len(on_two.named("task.created")) == before
    await close_mongo(mongo)


async def test_graceful_shutdown(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    leaving, staying = start_server.many(2, redis_url=rt_redis.url)
    a = await socks().connect(leaving.url, alice.token)
    b = await socks().connect(staying.url, bob.token)
    await a.join(room)
    await b.join(room)
    # What the leaving process looks like at the moment it says goodbye.
    at_goodbye: dict[str, object] = {}
    http = httpx.AsyncClient(base_url=leaving.url)

    @a.client.on("session:ending")
    async def goodbye(data: Any) -> None:
        a.events.append(("session:ending", data))
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", leaving.port)
            writer.close()
            at_goodbye["new_connection"] = "accepted"
        except OSError:
            at_goodbye["new_connection"] = "refused"
        try:  # over the connection opened before the signal, if it is still there
            at_goodbye["ready"] = (await http.get("/health/ready")).status_code
        except httpx.HTTPError:
            at_goodbye["ready"] = "unreachable"

    try:
        assert (await http.get("/health/ready")).status_code == 200
        # Acknowledged first: a frame still unread when the signal lands is not the server's yet.
        sent = await a.call("message", {"room": room, "text": "just before the end"})
        assert "error" not in sent, sent
        await asyncio.to_thread(leaving.stop)  # SIGTERM
    finally:
        await http.aclose()
    assert [e["code"] for e in a.named("session:ending")] == ["server_shutdown"]
    # By then it was out of rotation: not ready, and no new connection accepted.
    assert at_goodbye["new_connection"] == "refused"
    assert at_goodbye["ready"] in (503, "unreachable")
    # The message sent just before reached the other process and the room's history.
    got = await b.wait_for(lambda: b.named("message"))
    assert [m["text"] for m in got] == ["just before the end"]
    late = await socks().connect(staying.url, bob.token)
    replay = await late.join(room, since=0)
    assert replay["replayed"] == 1 and late.named("message")[0]["text"] == "just before the end"
    # Gone from presence before the process exited, not after PRESENCE_TTL_SECONDS (30 s).
    assert users_in(replay["presence"]) == {bob.id: 2}
    await b.wait_for(lambda: b.named("presence:left"))
    assert "Traceback" not in leaving.log()


async def test_process_taken_for_dead_restores_its_presence(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(alice, bob)}"
    server = start_server(redis_url=rt_redis.url, presence_ttl_seconds="2")
    a = await socks().connect(server.url, alice.token)
    b = await socks().connect(server.url, bob.token)
    await a.join(room)
    await b.join(room)

    # What a peer does when it reaps a process it believes dead (a stalled event loop).
    redis = Redis.from_url(rt_redis.url)
    try:
        for proc in await redis.smembers("roomcast:rt:procs:"):
            await redis.srem("roomcast:rt:procs:", proc)
        await redis.delete(f"roomcast:rt:pres:{room}", f"roomcast:rt:presc:{room}")
        await b.wait_for(lambda: [j for j in b.named("presence:joined")
                                  if j["user"]["user_id"] == alice.id])
    finally:
        await redis.aclose()
    check = await socks().connect(server.url, bob.token)
    assert users_in((await check.join(room))["presence"]) == {alice.id: 1, bob.id: 2}


async def test_a_process_subscribes_only_to_rooms_it_serves(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    alice = seed.user("alice")
    served, other = seed.project(alice), seed.project(alice)
    server = start_server(redis_url=rt_redis.url)
    a = await socks().connect(server.url, alice.token)
    redis = Redis.from_url(rt_redis.url)

    async def subscribers(room: str) -> int:
        [(_, count)] = await redis.pubsub_numsub(f"roomcast:rt:r:{room}")
        return int(count)

    try:
        await a.join(f"project:{served}")
        assert await subscribers(f"project:{served}") == 1
        assert await subscribers(f"project:{other}") == 0
        assert await subscribers(f"user:{alice.id}") == 1
        await a.call("leave", {"room": f"project:{served}"})
        for _ in range(200):  # unsubscribed a moment later
            if await subscribers(f"project:{served}") == 0:
                break
            await asyncio.sleep(0.1)
        assert await subscribers(f"project:{served}") == 0
        assert (await a.join(f"project:{served}"))["ok"] is True
        assert await subscribers(f"project:{served}") == 1
    finally:
        await redis.aclose()
