"""Redis going away and coming back: the server starts without it, refuses sockets while it is
down, keeps REST serving, and resumes on its own; nothing published through REST is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import socketio
from redis.asyncio import Redis

from realtime.emitter import KEY_PREFIX, RedisEmitter
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import (
    Seed,
    Sock,
    metric,
    redis_emitter,
    start_document_store,
)
from tests.support.services import RedisServer, free_port, start_redis

pytestmark = pytest.mark.slow


async def connect_when_up(socks: Callable[[], Sock], url: str, token: str,
                          within: float = 20) -> Sock:
    """Connect, retrying while the server refuses with service_unavailable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        sock = socks()
        try:
            return await sock.connect(url, token)
        except socketio.exceptions.ConnectionError:
            assert sock.connect_error["data"]["code"] == "service_unavailable"
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_serve_starts_without_redis_and_subscribes_when_it_comes(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], tmp_path: Path
) -> None:
    alice = seed.user("alice")
    project = seed.project(alice)
    port = free_port()  # nothing listens here yet
    server = start_server(redis_url=f"redis://127.0.0.1:{port}/0")
    auth = {"Authorization": f"Bearer {alice.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["details"]["checks"]["redis"] == "down"
        assert (await http.get(f"/api/v1/projects/{project}")).status_code == 200
        refused = socks()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, alice.token)
        assert refused.connect_error["data"]["code"] == "service_unavailable"

        redis = start_redis(port)
        try:
            sock = await connect_when_up(socks, server.url, alice.token)
            assert (await sock.join(f"project:{project}"))["ok"] is True
            async with redis_emitter(redis.url, tmp_path) as emitter:
                offset = await emitter.emit(f"project:{project}", "task.created", {"n": 1})
            got = await sock.wait_for(lambda: sock.named("task.created"))
            assert got == [{"room": f"project:{project}", "offset": offset,
                            "epoch": got[0]["epoch"], "n": 1}]
            assert (await http.get("/health/ready")).status_code == 200
        finally:
            redis.kill()
    assert server.proc.poll() is None
    assert "Traceback" not in server.log()


async def test_a_removal_and_an_event_during_a_redis_outage_take_effect_when_it_is_back(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    head, bob = seed.user("head"), seed.user("bob")
    project = seed.project(head, bob)
    room = f"project:{project}"
    redis = start_redis()
    try:
        server = start_server(redis_url=redis.url)
        h = await socks().connect(server.url, head.token)
        b = await socks().connect(server.url, bob.token)
        await h.join(room)
        await b.join(room)

        redis.kill()
        async with httpx.AsyncClient(base_url=server.url,
                                     headers={"Authorization": f"Bearer {head.token}"}) as http:
            removed = await http.delete(f"/api/v1/projects/{project}/members/{bob.id}")
            assert removed.status_code == 204, removed.text
            task = await http.post(f"/api/v1/projects/{project}/tasks",
                                   json={"title": "written during the outage"})
            assert task.status_code == 201, task.text
            # The revocation, the project's member.removed and task.created wait.
            assert await metric(server.url, "roomcast_outbox_pending") == 3
        redis = start_redis(redis.port)  # a fresh Redis: nothing of before survived

        revoked = await b.wait_for(lambda: b.named("room:revoked"), within=30)
        assert [(r["room"], r["code"]) for r in revoked] == [(room, "membership_revoked")]
        gone = await h.wait_for(lambda: h.named("member.removed"), within=30)
        assert [g["user_id"] for g in gone] == [bob.id]
        created = await h.wait_for(lambda: h.named("task.created"), within=30)
        assert [t["task"]["title"] for t in created] == ["written during the outage"]
        assert await metric(server.url, "roomcast_outbox_pending") == 0
        # The removed user's socket is out: the event did not reach it.
        assert b.named("task.created") == []
        assert (await b.call("typing", {"room": room, "typing": True}))["error"]["code"] == (
            "not_joined")
    finally:
        redis.kill()


async def test_a_revocation_missed_while_resubscribing_is_caught_from_the_store(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    head, bob = seed.user("head"), seed.user("bob")
    project = seed.project(head, bob)
    room = f"project:{project}"
    server = start_server(redis_url=rt_redis.url)
    b = await socks().connect(server.url, bob.token)
    await b.join(room)

    redis = Redis.from_url(rt_redis.url)
    try:
        # The server's subscription drops; it resubscribes half a second later. A revocation
        # published in between never reaches it.
        assert await redis.client_kill_filter(_type="pubsub") >= 1
        async with httpx.AsyncClient(base_url=server.url,
                                     headers={"Authorization": f"Bearer {head.token}"}) as http:
            removed = await http.delete(f"/api/v1/projects/{project}/members/{bob.id}")
        assert removed.status_code == 204
        revoked = await b.wait_for(lambda: b.named("room:revoked"), within=20)
        assert [r["room"] for r in revoked] == [room]
    finally:
        await redis.aclose()
    assert "left project" in server.log()  # it was the check against the store that did it


@asynccontextmanager
async def subscription_lost(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], redis_url: str,
    data_dir: Path,
) -> AsyncIterator[tuple[str, Sock, Redis, RedisEmitter]]:
    """A socket in a meeting room has its first event; then the server's pub/sub connection
    drops and comes back half a second later: what is published in between never reaches it
    through pub/sub."""
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server(redis_url=redis_url)
    sock = await socks().connect(server.url, bob.token)
    await sock.join(room)
    redis = Redis.from_url(redis_url)
    try:
        async with redis_emitter(redis_url, data_dir) as emitter:
            await emitter.emit(room, "note", {"n": 0})
            await sock.wait_for(lambda: sock.named("note"))
            assert await redis.client_kill_filter(_type="pubsub") >= 1
            yield room, sock, redis, emitter
    finally:
        await redis.aclose()


async def test_events_published_while_resubscribing_reach_the_sockets_once_it_is_back(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    async with subscription_lost(seed, start_server, socks, rt_redis.url, tmp_path) as lost:
        room, b, _, emitter = lost
        for n in range(1, 6):
            await emitter.emit(room, "note", {"n": n})
    got = await b.wait_for(lambda: len(b.named("note")) >= 6 and b.named("note"), within=20)
    first = got[0]["offset"]
    assert [(e["offset"], e["n"]) for e in got] == [(first + n, n) for n in range(6)]
    assert b.named("session:ending") == []


async def test_events_missed_beyond_the_history_end_the_session_with_a_reason(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    tmp_path: Path,
) -> None:
    async with subscription_lost(seed, start_server, socks, rt_redis.url, tmp_path) as lost:
        room, b, redis, emitter = lost
        for n in range(1, 11):
            await emitter.emit(room, "note", {"n": n})
        # The room's history keeps only the last three of them (as STREAM_MAX_LEN would).
        await redis.xtrim(f"{KEY_PREFIX}stream:{room}", maxlen=3, approximate=False)
    ending = await b.wait_for(lambda: b.named("session:ending"), within=20)
    assert [e["code"] for e in ending] == ["missed_events"]
    assert [e["n"] for e in b.named("note")] == [0]  # nothing out of order in between


async def test_an_unreachable_document_store_is_service_unavailable(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    alice = seed.user("alice")
    project = seed.project(alice)
    store = start_document_store()
    try:
        server = start_server(mongo_uri=store.url, mongo_db=f"rt{uuid4().hex}",
                              mongo_timeout_ms="300")
        a = await socks().connect(server.url, alice.token)
        store.stop()

        ack = await a.join(f"project:{project}")
        assert ack["error"]["code"] == "service_unavailable", ack
        refused = socks()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, alice.token)
        assert refused.connect_error["data"]["code"] == "service_unavailable"
        assert a.client.connected  # the socket that was there stays
    finally:
        store.stop()
