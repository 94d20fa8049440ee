"""Roomcast's own Redis connections (realtime/redislink.py) against a real redis-server:
replies in order, scripts by digest, errors, a Redis that goes away, hangs or comes back."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from core.errors import ServiceUnavailable
from realtime.redislink import (
    LuaScript,
    RedisAddress,
    RedisLink,
    RedisRefused,
    RedisSubscriber,
    RedisTimedOut,
)
from tests.support.services import RedisServer, start_redis


def link_to(url: str, *, timeout: float = 5.0) -> RedisLink:
    return RedisLink(RedisAddress.of(Redis.from_url(url)), timeout=timeout)


async def test_concurrent_commands_get_their_own_replies_in_order(redis_proc: RedisServer) -> None:
    link = link_to(redis_proc.url)
    key = f"t:{os.urandom(6).hex()}"
    try:
        replies = await asyncio.gather(*(link.call("INCR", key) for _ in range(500)))
        assert sorted(replies) == list(range(1, 501))
        assert replies == list(range(1, 501))  # sent and answered in call order
        assert await link.call("GET", key) == b"500"
        assert await link.call("GET", key + ":missing") is None
    finally:
        await link.close()


async def test_a_script_runs_by_digest_and_is_loaded_when_redis_lacks_it(
    own_redis: RedisServer,
) -> None:
    link = link_to(own_redis.url)
    script = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    try:
        assert await link.evalsha(script, ["k"], [2]) == 2  # not loaded yet: EVAL
        assert await link.call("SCRIPT", "EXISTS", script.sha) == [1]
        assert await link.evalsha(script, ["k"], [3]) == 5
        await link.call("SCRIPT", "FLUSH")
        assert await link.evalsha(script, ["k"], [1]) == 6
    finally:
        await link.close()


async def test_an_error_reply_fails_only_its_own_command(redis_proc: RedisServer) -> None:
    link = link_to(redis_proc.url)
    key = f"t:{os.urandom(6).hex()}"
    try:
        await link.call("SET", key, "text")
        results = await asyncio.gather(link.call("INCR", key), link.call("GET", key),
                                       return_exceptions=True)
        assert isinstance(results[0], RedisRefused)
        assert "not an integer" in results[0].message
        assert results[1] == b"text"
        with pytest.raises(RedisRefused):
            await link.evalsha(LuaScript("return redis.call('NOPE')"), [], [])
    finally:
        await link.close()


async def test_password_and_database_come_from_the_client_url() -> None:
    server = start_redis(password="s3cret")
    link = link_to(f"redis://:s3cret@127.0.0.1:{server.port}/3")
    wrong = link_to(f"redis://:wrong@127.0.0.1:{server.port}/0")
    try:
        await link.call("SET", "where", "db3")
        check = Redis(port=server.port, password="s3cret", db=3)
        assert await check.get("where") == b"db3"
        await check.aclose()
        with pytest.raises(RedisRefused):
            await wrong.call("GET", "where")
    finally:
        await link.close()
        await wrong.close()
        server.kill()


async def test_a_lost_redis_fails_waiting_callers_and_a_restarted_one_is_used_again(
    own_redis: RedisServer,
) -> None:
    link = link_to(own_redis.url)
    try:
        assert await link.call("PING") == b"PONG"
        own_redis.kill()
        with pytest.raises(ServiceUnavailable):
            await link.call("PING")
        restarted = start_redis(own_redis.port)
        try:
            assert await link.call("PING") == b"PONG"
        finally:
            restarted.kill()
    finally:
        await link.close()


async def test_a_hung_redis_fails_callers_after_the_timeout(own_redis: RedisServer) -> None:
    link = link_to(own_redis.url, timeout=0.5)
    try:
        assert await link.call("PING") == b"PONG"
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RedisTimedOut):  # told apart from an unreachable Redis
                await asyncio.wait_for(link.call("PING"), timeout=10)
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert await link.call("PING") == b"PONG"  # a new connection
    finally:
        await link.close()


class Recorder:
    """What the subscriber reported, and an event set at each report."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, bytes]] = []
        self.confirmed: list[bytes] = []
        self.losses: list[str] = []
        self.changed = asyncio.Event()

    def message(self, channel: bytes, data: bytes) -> None:
        self.got.append((channel, data))
        self.changed.set()

    def subscribed(self, channel: bytes) -> None:
        self.confirmed.append(channel)
        self.changed.set()

    def lost(self, why: str) -> None:
        self.losses.append(why)
        self.changed.set()

    async def until(self, check: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not check():
                self.changed.clear()
                await self.changed.wait()


async def test_subscriber_delivers_messages_and_resubscribes_after_a_restart(
    own_redis: RedisServer,
) -> None:
    seen = Recorder()
    subscriber = RedisSubscriber(RedisAddress.of(Redis.from_url(own_redis.url)),
                                 on_message=seen.message, on_subscribed=seen.subscribed,
                                 on_lost=seen.lost, last="a", pause=(0.05, 0.2))
    link = link_to(own_redis.url)
    subscriber.subscribe("a")
    subscriber.subscribe("c")
    subscriber.start()
    try:
        await seen.until(lambda: len(seen.confirmed) == 2)
        assert seen.confirmed == [b"c", b"a"]  # `last` after the others
        subscriber.subscribe("b")
        await seen.until(lambda: set(seen.confirmed) == {b"a", b"b", b"c"})
        for n in range(50):
            await link.call("PUBLISH", "a" if n % 2 else "b", f"m{n}")
        await seen.until(lambda: len(seen.got) == 50)
        assert [data for _, data in seen.got] == [f"m{n}".encode() for n in range(50)]
        subscriber.unsubscribe("b")
        assert await unsubscribed(link, "b")

        own_redis.kill()
        restarted = start_redis(own_redis.port)
        try:
            await seen.until(lambda: seen.confirmed.count(b"a") == 2, within=15)
            assert seen.losses and seen.confirmed[-2:] == [b"c", b"a"]
            seen.got.clear()
            await link.call("PUBLISH", "b", "not subscribed")
            await link.call("PUBLISH", "a", "after")
            await seen.until(lambda: bool(seen.got))
            assert seen.got == [(b"a", b"after")]
        finally:
            restarted.kill()
    finally:
        await subscriber.stop()
        await link.close()


async def unsubscribed(link: RedisLink, channel: str) -> bool:
    """Whether Redis counts no subscriber of the channel (asked until it has settled)."""
    for _ in range(100):
        if (await link.call("PUBSUB", "NUMSUB", channel))[1] == 0:
            return True
        await asyncio.sleep(0.02)
    return False
