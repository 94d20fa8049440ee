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
from typing import Protocol

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


@dataclass(frozen=True)
class ClientBackoff:
    """The official socket.io-client's default reconnection delays (its `Manager` options
    `reconnectionDelay` 1000, `reconnectionDelayMax` 5000, `randomizationFactor` 0.5, over the
    `backo2` algorithm): a wait of 0.5-1.5 s before the first attempt, then 1-3 s, 2-5 s, 5 s,
    and no limit on attempts (here `attempts`, so a run stays bounded)."""

    first: float = 1.0
    ceiling: float = 5.0
    jitter: float = 0.5
    attempts: int = 30

    def delays(self, after: float) -> Iterator[float]:
        for attempt in range(self.attempts):
            base = self.first * 2 ** attempt
            rand = random.random()
            deviation = rand * self.jitter * base
            # backo2 adds or subtracts the deviation by one digit of the same random number.
            wait = base - deviation if int(rand * 10) % 2 == 0 else base + deviation
            yield (after if attempt == 0 else 0.0) + min(wait, self.ceiling)


class Delays(Protocol):
    def delays(self, after: float) -> Iterator[float]: ...


# What a client that came back reports: the client, when its connection was lost and when
# the attempt that brought it back began (ns on the run's clock).
BackHook = Callable[[SioClient, int, int], None]


class Reconnects:
    """Brings dropped clients back. Counters: `reconnect_attempts`, `reopened` (sockets
    connected again), `reconnects` (connected and every room rejoined),
    `reconnected@URL`; errors `reconnect:<kind>`, `rejoin:<kind>`, `reconnect:gave_up`,
    `recovery:history_gone`."""

    def __init__(
        self, *, stats: Stats, wire: Wire, clock: Clock, url_for: Callable[[int], str],
        timeout: float, backoff: Delays | None = None, on_back: BackHook | None = None,
        restart_reset: bool = False,
    ) -> None:
        self._stats = stats
        self._wire = wire
        self._clock = clock
        self._url_for = url_for
        self._timeout = timeout
        self._backoff: Delays = backoff or Backoff()
        self.on_back = on_back
        # Rejoin a room whose history was reset (a new epoch: the server restarted without
        # keeping it) from the start of the new epoch, which is all new to the client.
        self._restart_reset = restart_reset
        # Clients dropped and not back yet: when each lost its connection (ns).
        self.away: dict[SioClient, int] = {}
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
        self.away.setdefault(client, self._clock())
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
                    lost = self.away.pop(client, client.live_since_ns)
                    if self.on_back is not None:
                        self.on_back(client, lost, client.live_since_ns)
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
            sent = client.epochs.get(room)
            try:
                ack = await self._wire.join(client, room,
                                            since=last if self._wire.offsets else None)
                if ack.get("recovered") is False and not await self._reset(client, room,
                                                                            sent, ack):
                    self._stats.error("recovery:history_gone")
            except Exception as exc:  # a refused rejoin: drop the socket and try again later
                self._stats.error(f"rejoin:{type(exc).__name__}")
                client.abort()
                return False
        return True

    async def _reset(self, client: SioClient, room: str, sent: str | None,
                     ack: dict[str, object]) -> bool:
        """A rejoin into a reset history (another epoch than the one sent): with
        `restart_reset`, join again from offset 0 of the new epoch. False when it does not
        apply (the history only no longer reaches back far enough)."""
        if not self._restart_reset or ack.get("epoch") == sent or sent is None:
            return False
        self._stats.counters["history_reset"] += 1
        client.rooms[room] = 0
        again = await self._wire.join(client, room, since=0)
        return again.get("recovered") is not False
