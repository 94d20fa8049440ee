"""Reconnecting a dropped client: `--reconnect` in fanout and rooms, every drop in recovery.

After a pause, and with exponential backoff between failed attempts, the client connects
again in place (to the next server URL in turn, so to another process of the deployment when
several `--url` are given) and rejoins every room it was in with `since` = the last offset it
processed there; a server with history (Roomcast) replays what was missed, the generic contract
cannot. A message sent before the reconnect that still arrives came by replay: it counts as
delivered and `replayed`, not as a delivery latency (the time away is not the server's).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from load.client import Clock, ConnectFailed, SioClient
from load.contract import Wire
from load.stats import Stats


@dataclass(frozen=True)
class Backoff:
    first: float = 0.25
    ceiling: float = 5.0
    attempts: int = 8

    def delays(self, after: float) -> Iterator[float]:
        """`after` before the first attempt, then doubling waits with jitter, so a crowd
        dropped at once does not come back in lockstep."""
        yield after
        delay = self.first
        for _ in range(self.attempts - 1):
            yield delay * random.uniform(0.5, 1.0)
            delay = min(delay * 2, self.ceiling)


class Reconnects:
    """Brings dropped clients back. Counters: `reconnect_attempts`, `reopened` (sockets
    connected again), `reconnects` (connected and every room rejoined),
    `reconnected@URL`; errors `reconnect:<kind>`, `rejoin:<kind>`, `reconnect:gave_up`,
    `recovery:history_gone`."""

    def __init__(
        self, *, stats: Stats, wire: Wire, clock: Clock, url_for: Callable[[int], str],
        timeout: float, backoff: Backoff | None = None,
    ) -> None:
        self._stats = stats
        self._wire = wire
        self._clock = clock
        self._url_for = url_for
        self._timeout = timeout
        self._backoff = backoff or Backoff()
        self._index: dict[SioClient, int] = {}  # a client's index: its token and first URL
        self._hops: Counter[SioClient] = Counter()
        self._busy: set[SioClient] = set()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._stopped = False

    def track(self, client: SioClient, index: int) -> None:
        self._index[client] = index

    def dropped(self, client: SioClient) -> None:
        """The server dropped `client`: bring it back in the background."""
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self.run(client))
        self._tasks.add(task)  # hold a reference until it ends
        task.add_done_callback(self._tasks.discard)

    async def run(self, client: SioClient, after: float = 0.0) -> bool:
        """Reconnect `client` after `after` seconds (then with backoff) and rejoin its rooms;
        False when it gave up, was already coming back, or the run is ending."""
        if client in self._busy or self._stopped:
            return False
        self._busy.add(client)
        try:
            for delay in self._backoff.delays(after):
                await asyncio.sleep(delay)
                if self._stopped:
                    return False
                if await self._reopen(client) and await self._rejoin(client):
                    self._stats.counters["reconnects"] += 1
                    return True
            self._stats.error("reconnect:gave_up")
            return False
        except asyncio.CancelledError:
            client.abort()  # a connect cut short must not leave a socket behind
            raise
        finally:
            self._busy.discard(client)

    async def stop(self) -> None:
        """The run is ending: no more reconnects."""
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reopen(self, client: SioClient) -> bool:
        index = self._index.get(client, 0)
        self._hops[client] += 1
        url = self._url_for(index + self._hops[client])
        client.live_since_ns = self._clock()
        self._stats.counters["reconnect_attempts"] += 1
        try:
            await client.connect(url, auth=self._wire.auth(index), within=self._timeout)
        except ConnectFailed as exc:
            self._stats.error(f"reconnect:{exc.kind}")
            return False
        self._stats.counters["reopened"] += 1
        self._stats.counters[f"reconnected@{url}"] += 1
        return True

    async def _rejoin(self, client: SioClient) -> bool:
        for room, last in list(client.rooms.items()):
            try:
                ack = await self._wire.join(client, room,
                                            since=last if self._wire.offsets else None)
            except Exception as exc:  # a refused rejoin: drop the socket and try again later
                self._stats.error(f"rejoin:{type(exc).__name__}")
                client.abort()
                return False
            if ack.get("recovered") is False:
                self._stats.error("recovery:history_gone")
        return True
