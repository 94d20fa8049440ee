"""A deactivated or deleted account loses its sockets on every process at once, and its old
token neither connects, refreshes nor joins (two `roomcast serve` processes over one Redis and
one document store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import uuid4

import httpx
import pytest
import socketio
from pymongo import MongoClient
from redis.asyncio import Redis

from core.models import Role
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import (
    DocumentStore,
    Seed,
    Sock,
    start_document_store,
)
from tests.support.services import RedisServer, ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def shared_store() -> Iterator[DocumentStore]:
    store = start_document_store()
    try:
        yield store
    finally:
        store.stop()


def two_servers(start_server: StartServer, rt_redis: RedisServer,
                store: DocumentStore) -> tuple[list[ServerProcess], str]:
    db = f"rt{uuid4().hex}"
    return start_server.many(2, redis_url=rt_redis.url, mongo_uri=store.url, mongo_db=db), db


async def test_deactivating_ends_the_sockets_on_every_process(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    shared_store: DocumentStore,
) -> None:
    admin, alice, bob = seed.user("admin", role=Role.ADMIN), seed.user("alice"), seed.user("bob")
    room = f"project:{seed.project(bob, alice)}"
    (one, two), _ = two_servers(start_server, rt_redis, shared_store)
    here = await socks().connect(one.url, alice.token)
    there = await socks().connect(two.url, alice.token)
    watcher = await socks().connect(two.url, bob.token)
    for sock in (here, there, watcher):
        assert (await sock.join(room))["ok"] is True

    async with httpx.AsyncClient(base_url=one.url) as http:
        r = await http.patch(f"/api/v1/admin/users/{alice.id}", json={"active": False},
                             headers={"Authorization": f"Bearer {admin.token}"})
    assert r.status_code == 200 and r.json()["active"] is False

    for sock in (here, there):
        await sock.wait_for(lambda s=sock: not s.client.connected)  # type: ignore[misc]
        assert [e["code"] for e in sock.named("session:ending")] == ["account_deactivated"]
    await watcher.wait_for(lambda: watcher.named("presence:left"))
    assert watcher.client.connected
    for server in (one, two):
        again = socks()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await again.connect(server.url, alice.token)
        assert again.connect_error["data"]["code"] == "unauthorized"


async def test_deleting_ends_the_sockets_on_every_process(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    shared_store: DocumentStore,
) -> None:
    alice = seed.user("alice")
    (one, two), _ = two_servers(start_server, rt_redis, shared_store)
    there = await socks().connect(two.url, alice.token)
    async with httpx.AsyncClient(base_url=one.url) as http:
        r = await http.delete("/api/v1/users/me",
                              headers={"Authorization": f"Bearer {seed.token(alice)}"})
    assert r.status_code == 204
    await there.wait_for(lambda: not there.client.connected)
    assert [e["code"] for e in there.named("session:ending")] == ["account_deleted"]


async def test_an_ended_account_cannot_refresh_or_join_on_an_open_socket(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
    shared_store: DocumentStore,
) -> None:
    """Even when the end of the sessions has not reached a process (written to the store
    without the publish), what the socket asks for is checked against the account."""
    alice = seed.user("alice")
    room = f"project:{seed.project(alice)}"
    (one, _), db = two_servers(start_server, rt_redis, shared_store)
    sock = await socks().connect(one.url, alice.token)
    with MongoClient(shared_store.url) as mongo:
        mongo[db]["users"].update_one({"_id": alice.id}, {"$set": {"active": False}})

    refused = {"ok": False, "error": {"code": "unauthorized",
                                      "message": "the account is not active"}}
    assert await sock.call("auth:refresh", {"token": seed.token(alice)}) == refused
    assert await sock.join(room) == refused
    assert await sock.join(f"user:{alice.id}", since=0) == refused


async def test_an_end_missed_while_resubscribing_is_caught_from_the_store(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer
) -> None:
    admin, alice = seed.user("admin", role=Role.ADMIN), seed.user("alice")
    server = start_server(redis_url=rt_redis.url)
    sock = await socks().connect(server.url, alice.token)
    redis = Redis.from_url(rt_redis.url)
    try:
        # The server's subscription drops and comes back half a second later: the end of the
        # account, published in between, never reaches it.
        assert await redis.client_kill_filter(_type="pubsub") >= 1
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.patch(f"/api/v1/admin/users/{alice.id}", json={"active": False},
                                 headers={"Authorization": f"Bearer {admin.token}"})
        assert r.status_code == 200
        await sock.wait_for(lambda: not sock.client.connected)
    finally:
        await redis.aclose()
    assert [e["code"] for e in sock.named("session:ending")] == ["account_deactivated"]
    assert "account ended while pub/sub was down" in server.log()
