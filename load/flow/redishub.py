"""Controller and agents on several machines, coordinated through Redis.

Keys (prefix `roomcast:load:<group>:`, the group `default` unless `--group` says otherwise,
so several teams can share one Redis): `agents` (a hash of registered, idle agents), `alive:<agent>`
(a heartbeat that expires 3 s after the agent's last beat), `inbox:<agent>` (a list: the
assignment), `run:<id>:out` (a list: what agents stream back), `run:<id>:stop` (the reason the
controller stopped the run). Clocks: agents start at the controller's wall-clock time, so the
machines' clocks must agree (NTP) to well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis

from load.flow.agent import run_assignment
from load.flow.controller import NoAgents

PREFIX = "roomcast:load:"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
HEARTBEAT_S = 1.0
ALIVE_MS = 3000


def prefix_of(group: str) -> str:
    return f"{PREFIX}{group}:"


class RedisHub:
    def __init__(self, url: str, group: str = "default") -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.prefix = prefix_of(group)
        self.run: str | None = None

    async def live_agents(self) -> list[str]:
        names = [_text(n) for n in await self.redis.hkeys(self.prefix + "agents")]
        live = []
        for name in names:
            if await self.redis.exists(self.prefix + "alive:" + name):
                live.append(name)
            else:
                await self.redis.hdel(self.prefix + "agents", name)  # gone without saying so
        return live

    async def agents(self, want: int, within: float) -> list[str]:
        """Claim `want` live agents: an agent is this controller's once its entry is removed
        by this controller (HDEL answers 1 to one caller only), so two controllers sharing a
        group never get the same agent. Without enough in time, the claimed ones go back."""
        deadline = time.monotonic() + within
        claimed: list[str] = []
        while True:
            for name in await self.live_agents():
                if len(claimed) < want and await self.redis.hdel(self.prefix + "agents", name):
                    claimed.append(name)
            if len(claimed) >= want:
                return sorted(claimed)
            if time.monotonic() > deadline:
                for name in claimed:
                    await self.redis.hset(self.prefix + "agents", name, b"{}")
                raise NoAgents(f"{len(claimed)} agent(s) registered, {want} wanted, after "
                               f"{within:g}s: start them with `roomcast load agent --redis URL`")
            await asyncio.sleep(0.2)

    async def assign(self, agent: str, message: dict[str, Any]) -> None:
        self.run = str(message["run"])
        await self.beat()
        await self.redis.rpush(self.prefix + "inbox:" + agent, orjson.dumps(message))

    async def beat(self) -> None:
        """The controller's heartbeat: agents stop a run whose controller went away."""
        await self.redis.set(f"{self.prefix}run:{self.run}:controller", b"1", px=ALIVE_MS)

    async def receive(self, wait: float) -> list[dict[str, Any]]:
        await self.beat()
        key = f"{self.prefix}run:{self.run}:out"
        first = await self.redis.blpop([key], timeout=wait)
        if first is None:
            return []
        messages = [orjson.loads(_text(first[1]))]
        while (more := await self.redis.lpop(key)) is not None:
            messages.append(orjson.loads(_text(more)))
        return messages

    async def alive(self, agent: str) -> bool:
        return bool(await self.redis.exists(self.prefix + "alive:" + agent))

    async def request_stop(self, run: str, reason: str) -> None:
        await self.redis.set(f"{self.prefix}run:{run}:stop", reason, ex=3600)

    async def close(self) -> None:
        if self.run is not None:
            await self.redis.delete(f"{self.prefix}run:{self.run}:out")
        await self.redis.aclose()


class RedisLink:
    def __init__(self, redis: aioredis.Redis, run: str, prefix: str) -> None:
        self.redis, self.run, self.prefix = redis, run, prefix

    async def send(self, message: dict[str, Any]) -> None:
        key = f"{self.prefix}run:{self.run}:out"
        await self.redis.rpush(key, orjson.dumps(message))
        await self.redis.expire(key, 3600)

    async def stop_requested(self) -> str | None:
        value = await self.redis.get(f"{self.prefix}run:{self.run}:stop")
        if value is not None:
            return _text(value)
        if not await self.redis.exists(f"{self.prefix}run:{self.run}:controller"):
            return "the controller went away (no heartbeat)"
        return None


def agent_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"


async def serve_agent(url: str, *, name: str | None = None, runs: int | None = None,
                      group: str = "default") -> None:
    """Register, run what the controller assigns, register again; `runs` bounds how many."""
    name = name or agent_name()
    redis = aioredis.Redis.from_url(url)
    prefix = prefix_of(group)

    async def beat() -> None:
        while True:
            await redis.set(prefix + "alive:" + name, str(os.getpid()), px=ALIVE_MS)
            await asyncio.sleep(HEARTBEAT_S)

    beating = asyncio.create_task(beat())
    done = 0
    try:
        while runs is None or done < runs:
            await redis.hset(prefix + "agents", name,
                             orjson.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                           "since": time.time()}))
            popped = None
            while popped is None:
                popped = await redis.blpop([prefix + "inbox:" + name], timeout=1)
            assignment = orjson.loads(popped[1])
            link = RedisLink(redis, str(assignment["run"]), prefix)
            await run_assignment(assignment, link, name)
            done += 1
    finally:
        beating.cancel()
        with contextlib.suppress(Exception):
            await redis.hdel(prefix + "agents", name)
            await redis.delete(prefix + "alive:" + name)
        await redis.aclose()
