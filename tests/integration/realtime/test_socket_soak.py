"""The soak: many WebSockets with churn (connections closing, cleanly or not, and new ones
connecting, joining and sending) against a real `roomcast serve`, its RSS sampled as it goes.
Memory must settle: after the warm-up it may grow by at most GROWTH_FACTOR and GROWTH_SLACK.
Bounded in `make test` (200 connections, 20 s); under `--long` 2,000 connections for 3
minutes, RSS reported per minute."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, SeedUser, rss_bytes
from tests.integration.realtime.wire import CLOSE, RawWebSocket, text

pytestmark = pytest.mark.slow

GROWTH_FACTOR = 1.25  # the RSS at the end may be at most this times the RSS after warm-up...
GROWTH_SLACK = 16 * 2**20  # ...plus this


class Client:
    """One connection: connects, joins its project room, then reads (answering pings)."""

    def __init__(self, ws: RawWebSocket) -> None:
        self.ws = ws
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, url: str, user: SeedUser, room: str) -> Client:
        ws = await RawWebSocket.open(url, user.token)
        ws.writer.write(text(f'421["join",{{"room":"{room}"}}]')
                        + text(f'422["typing",{{"room":"{room}","typing":true}}]'))
        acks = dict(await ws.acks(2))
        assert acks[1]["ok"] and acks[2]["ok"], acks
        client = cls(ws)
        client.reader = asyncio.create_task(client._read())
        return client

    async def _read(self) -> None:
        while True:
            try:
                opcode, _ = await self.ws.recv()
            except TimeoutError:
                continue
            except (OSError, EOFError):
                return
            if opcode == CLOSE:
                return

    async def stop(self, *, clean: bool) -> None:
        if self.reader is not None:
            self.reader.cancel()
        try:
            if clean:
                self.ws.writer.write(text("1"))  # Engine.IO CLOSE, then hang up
                await self.ws.writer.drain()
        except ConnectionError:
            pass
        if clean:
            self.ws.close()
        else:
            self.ws.writer.transport.abort()  # gone without a word


@pytest.mark.timeout(900)  # the long form
async def test_memory_settles_under_connection_churn(seed: Seed, start_server: StartServer,
                                                     long_form: bool) -> None:
    connections, seconds, sample_every = (2000, 180, 60) if long_form else (200, 20, 5)
    users = [seed.user() for _ in range(connections)]
    rooms = [f"project:{seed.project(user)}" for user in users]
    server = start_server()
    rng = random.Random(13)
    live: dict[int, Client] = {}

    async def start(i: int) -> None:
        live[i] = await Client.start(server.url, users[i], rooms[i])

    for first in range(0, connections, 100):
        await asyncio.gather(*(start(i) for i in range(first, min(first + 100, connections))))
    warm = rss_bytes(server.proc.pid)
    samples = [(0.0, warm)]
    churned = 0
    started = time.monotonic()
    next_sample = started + sample_every
    while time.monotonic() - started < seconds:
        # Each round a twentieth of the connections leave (half cleanly, half by hanging up)
        # and as many new ones connect, join and send.
        leaving = rng.sample(sorted(live), max(1, connections // 20))
        await asyncio.gather(*(live.pop(i).stop(clean=n % 2 == 0)
                               for n, i in enumerate(leaving)))
        await asyncio.gather(*(start(i) for i in leaving))
        churned += len(leaving)
        if time.monotonic() >= next_sample:
            samples.append((time.monotonic() - started, rss_bytes(server.proc.pid)))
            next_sample += sample_every
    await asyncio.gather(*(client.stop(clean=True) for client in live.values()))
    end = rss_bytes(server.proc.pid)
    samples.append((time.monotonic() - started, end))
    report = ", ".join(f"{at:.0f}s {rss / 2**20:.0f} MiB" for at, rss in samples)
    print(f"\nsoak: {connections} connections, {churned} replaced in {seconds} s; RSS {report}")
    assert server.proc.poll() is None, "the server crashed"
    assert "Traceback" not in server.log()
    assert end <= warm * GROWTH_FACTOR + GROWTH_SLACK, report
