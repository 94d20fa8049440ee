"""CPU per Redis command and per pub/sub message on the per-message path: redis-py's asyncio
client (a pipeline through RedisBatcher, as Roomcast used it, and a plain call) against
Roomcast's own connections (realtime/redislink.py), in one process, against one redis-server
this script starts on a free port.

    python benchmarks/redis_client_cost.py --count 5000

CPU is this process's own (time.process_time), so the redis-server's work is not counted.
Run it pinned to one CPU (`taskset -c 0`), as the benchmarks pin the servers and their Redis:
otherwise where the scheduler places the two processes moves the figures several-fold.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis as sync_redis
import uvloop
from redis.asyncio import Redis
from servers import ROOT, free_port

sys.path.insert(0, str(ROOT))

from realtime.batcher import RedisBatcher
from realtime.redislink import RedisAddress, RedisLink, RedisSubscriber
from realtime.streams import _APPEND

KEYS = ["bench:off", "bench:stream", "bench:channel", "bench:epoch"]
ARGS = [1000, 3600, b'2["message",{"room":"meeting:m","offset":', b',"text":"hello"}]', "0",
        "e0"]


async def cpu_per_call(count: int, call: Callable[[], Awaitable[Any]]) -> float:
    await call()
    started = time.process_time()
    for _ in range(count):
        await call()
    return (time.process_time() - started) / count * 1e6


async def cpu_per_message(count: int, publish: Callable[[], Awaitable[Any]],
                          subscribe: Callable[[Callable[[], None]], Awaitable[Any]]) -> float:
    done = asyncio.get_running_loop().create_future()
    received = 0

    def one() -> None:
        nonlocal received
        received += 1
        if received == count and not done.done():
            done.set_result(None)

    await subscribe(one)
    started = time.process_time()
    for _ in range(count):
        await publish()
    await done
    return (time.process_time() - started) / count * 1e6


async def redis_py(port: int, count: int) -> dict[str, float]:
    redis = Redis(port=port)
    batcher = RedisBatcher(redis)
    found = {
        "append (EVAL), redis-py pipeline": await cpu_per_call(
            count, lambda: batcher.run(lambda pipe: pipe.eval(_APPEND.body, 4, *KEYS, *ARGS))),
        "GET, redis-py call": await cpu_per_call(count, lambda: redis.get("bench:off")),
    }
    pubsub = redis.pubsub()
    readers: list[asyncio.Task[None]] = []

    async def subscribe(one: Callable[[], None]) -> None:
        await pubsub.subscribe("bench:rp")
        await pubsub.get_message(timeout=1)

        async def read() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    one()

        readers.append(asyncio.get_running_loop().create_task(read()))

    found["PUBLISH + pub/sub message, redis-py"] = await cpu_per_message(
        count, lambda: redis.publish("bench:rp", "x" * 200), subscribe)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    await batcher.close()
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
    return found


async def roomcast(port: int, count: int) -> dict[str, float]:
    address = RedisAddress(port=port)
    link = RedisLink(address)
    found = {
        "append (EVALSHA), Roomcast link": await cpu_per_call(
            count, lambda: link.evalsha(_APPEND, KEYS, ARGS)),
        "GET, Roomcast link": await cpu_per_call(count, lambda: link.call("GET", "bench:off")),
    }
    subscriber: RedisSubscriber | None = None

    async def subscribe(one: Callable[[], None]) -> None:
        nonlocal subscriber
        ready = asyncio.Event()
        subscriber = RedisSubscriber(address, on_message=lambda _c, _d: one(),
                                     on_subscribed=lambda _c: ready.set())
        subscriber.subscribe("bench:rc")
        subscriber.start()
        await ready.wait()

    found["PUBLISH + pub/sub message, Roomcast"] = await cpu_per_message(
        count, lambda: link.call("PUBLISH", "bench:rc", "x" * 200), subscribe)
    if subscriber is not None:
        await subscriber.stop()
    await link.close()
    return found


def wait_for_ping(port: int) -> None:
    client = sync_redis.Redis(port=port)
    for _ in range(200):
        try:
            if client.ping():
                return
        except sync_redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@contextmanager
def redis_on_a_free_port() -> Iterator[int]:
    """A redis-server of the benchmark's own, keeping nothing on disk; its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    try:
        wait_for_ping(port)
        yield port
    finally:
        proc.terminate()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    with redis_on_a_free_port() as port:
        results = {**uvloop.run(redis_py(port, args.count)),
                   **uvloop.run(roomcast(port, args.count))}
    print(f"{'what (one after another, uvloop)':48} CPU µs each")
    for name, value in results.items():
        print(f"{name:48} {value:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
