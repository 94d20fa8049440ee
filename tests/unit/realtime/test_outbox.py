"""The outbox: failed publishes are retried in order, per room behind earlier ones, bounded."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import ServiceUnavailable
from realtime import emitter as emitter_module
from realtime.emitter import Outbox
from realtime.redislink import RedisBusy, RedisRefused, refusal


class Redis:
    """Stands in for publishing into Redis: down until told otherwise."""

    def __init__(self) -> None:
        self.up = False
        self.published: list[str] = []
        self.refused: set[str] = set()  # answered with an error reply, however often tried
        self.tries: list[str] = []

    def publish(self, what: str) -> object:
        async def go() -> None:
            self.tries.append(what)
            if not self.up:
                raise ServiceUnavailable("Redis cannot be reached")
            if what in self.refused:
                raise refusal("WRONGTYPE Operation against a key holding the wrong kind of value")
            self.published.append(what)

        return go


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emitter_module, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(emitter_module, "RETRY_MAX", 0.02)


async def until(check: object) -> None:
    for _ in range(500):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


async def test_failed_publishes_go_out_in_order_once_redis_is_back() -> None:
    redis, pending = Redis(), []
    outbox = Outbox(on_pending=pending.append)
    assert await outbox.send("room:a", "a1", redis.publish("a1")) is True
    assert await outbox.send("room:b", "b1", redis.publish("b1")) is True
    redis.up = True
    # Room a has a publish waiting: a later one queues behind it instead of overtaking it.
    assert await outbox.send("room:a", "a2", redis.publish("a2")) is True
    assert await outbox.send("room:c", "c1", redis.publish("c1")) is True
    assert redis.published == ["c1"]
    await until(lambda: outbox.pending == 0)
    assert redis.published == ["c1", "a1", "b1", "a2"]
    assert pending[-1] == 0 and max(pending) == 3
    await outbox.close()


async def test_a_full_outbox_loses_the_publish_and_says_so() -> None:
    redis, lost = Redis(), []
    outbox = Outbox(limit=2, on_lost=lambda: lost.append(1))
    assert await outbox.send("r", "1", redis.publish("1"))
    assert await outbox.send("r", "2", redis.publish("2"))
    assert await outbox.send("r", "3", redis.publish("3")) is False
    assert lost == [1] and outbox.pending == 2
    await outbox.close()  # Redis is still down: what waits is lost, and logged
    assert outbox.pending == 0 and redis.published == []


async def test_waits_until_ready_and_flushes_at_close() -> None:
    redis, asked = Redis(), []

    def ready() -> bool:
        asked.append(1)
        return False

    outbox = Outbox(ready=ready)
    await outbox.send("r", "1", redis.publish("1"))
    redis.up = True
    seen = len(asked)
    await until(lambda: len(asked) >= seen + 3)  # the retry loop has looked several times
    assert redis.published == []  # Redis answers, but this process is not subscribed yet
    await outbox.close()  # shutting down: one last try regardless
    assert redis.published == ["1"]


def test_error_replies_that_pass_are_outages_and_the_others_are_refusals() -> None:
    assert isinstance(refusal("LOADING Redis is loading the dataset in memory"), RedisBusy)
    assert isinstance(refusal("OOM command not allowed when used memory > 'maxmemory'"),
                      ServiceUnavailable)
    for reply in ("WRONGTYPE Operation against a key", "ERR Error running script",
                  "NOSCRIPT No matching script", "WRONGPASS invalid username-password pair"):
        error = refusal(reply)
        assert isinstance(error, RedisRefused) and not isinstance(error, ServiceUnavailable)


async def test_a_refused_publish_is_not_retried_and_holds_nothing_up() -> None:
    redis, lost = Redis(), []
    outbox = Outbox(on_lost=lambda: lost.append(1))
    redis.up, redis.refused = True, {"bad-now"}
    assert await outbox.send("r", "bad-now", redis.publish("bad-now")) is False
    assert lost == [1] and outbox.pending == 0 and redis.tries == ["bad-now"]
    # Refused on a retry: dropped, and what waits behind it in the same room still goes out.
    redis.up, redis.refused = False, {"bad-later"}
    for what in ("bad-later", "after"):
        assert await outbox.send("r", what, redis.publish(what)) is True
    redis.up = True
    await until(lambda: outbox.pending == 0)
    assert redis.published == ["after"] and lost == [1, 1]
    assert redis.tries.count("bad-later") == 2  # the first try, then one retry, no more
    await outbox.close()
