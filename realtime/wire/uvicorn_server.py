"""Stands in for uvicorn 0.55.0's `Server.main_loop` and `Server.shutdown`: the same steps,
with events and short polls where uvicorn waits fixed tenths of a second.

uvicorn notices a signal at its next tick (a 0.1 s sleep), pauses 0.1 s after asking its
connections to shut down, then polls every 0.1 s until they and their tasks have ended. A
restarted `roomcast serve` is unreachable through all of it (its listeners are closed first),
so every tenth is one more tenth of refused reconnects. Here the tick ends as soon as the
signal arrives, and the waits end within `POLL` of what they wait for; a connection whose
`shutdown` raises is closed and the rest of the stop goes on.
Re-check on upgrade: tests/canary/test_uvicorn.py (`SERVER_FOLLOWED`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger("uvicorn.error")  # uvicorn's server logger, as upstream logs

POLL = 0.005  # seconds between looks at what is still open while stopping


class PromptServer(uvicorn.Server):
    TICK = 0.1  # uvicorn's: the Date header is refreshed every tenth tick

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake: Callable[[], object] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._wake is not None:
            self._wake()

    async def main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        # A signal handler runs between two bytecodes of the loop's thread: it only schedules.
        self._wake = lambda: loop.call_soon_threadsafe(woken.set)
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter += 1
            counter = counter % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), self.TICK)
            should_exit = await self.on_tick(counter)
        self._wake = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        logger.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            try:
                connection.shutdown()
            except Exception:
                # One connection's failure must not leave the others open and the app's own
                # shutdown (its pending writes) unrun.
                logger.exception("A connection failed to shut down: its transport is closed")
                connection.transport.close()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                await self._until_ended()
        except TimeoutError:
            logger.error("Cancel %s running task(s), timeout graceful shutdown exceeded",
                         len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    # What the wait for connections is, under a stop of thousands: not the peers' close
    # replies. A WebSocket's `shutdown` writes its close frame and closes the transport at
    # once, so each connection is gone as soon as the kernel took its last bytes; the wait is
    # the loop running every connection's `connection_lost` (uvicorn's, then Engine.IO's close
    # of the socket), with a single look at the set in between.
    # Sending the close frame earlier, with each socket's last write in the drain, was tried
    # and did not pay: SIGTERM to exit took 0.62 s in a run of each of two ways of sending it
    # against 0.57 s without (`benchmarks/startup_time.py --rounds 1 --herd-clients 5000
    # --herd-on empty`, 2026-12-06 17:33-17:39 UTC, load average 0.8-1.6). The replies then
    # reach an open connection and are parsed, and the same callbacks run in the drain instead.
    async def _until_ended(self) -> None:
        state = self.server_state
        if state.connections and not self.force_exit:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
            await self._until_empty(state.connections)
        if state.tasks and not self.force_exit:
            logger.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
            await self._until_empty(state.tasks)
        for server in self.servers:
            await server.wait_closed()

    async def _until_empty(self, items: set[Any]) -> None:
        # uvicorn's sets tell nobody when they empty: polled, as upstream does, more often.
        while items and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(POLL)
