"""uvicorn's server loop ended by a signal at once, not at its next tick
(realtime/wire/uvicorn_server.py)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn

from realtime.wire.uvicorn_server import PromptServer


async def app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("no request is made")


class HourlyTicks(PromptServer):
    TICK = 3600.0  # only a wake-up ends a wait


def server() -> HourlyTicks:
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    return HourlyTicks(config)


async def test_a_signal_ends_the_main_loop_without_waiting_for_the_tick() -> None:
    prompt = server()
    loop = asyncio.create_task(prompt.main_loop())
    await asyncio.sleep(0)  # the loop has ticked once and waits for the next tick
    assert not loop.done()
    prompt.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(loop, 10)
    assert prompt.should_exit


async def test_a_signal_before_the_loop_waits_ends_it_too() -> None:
    prompt = server()
    prompt.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(prompt.main_loop(), 10)


async def test_shutdown_with_nothing_open_goes_straight_to_the_app() -> None:
    prompt = server()
    stopped = asyncio.Event()

    class Lifespan:
        async def shutdown(self) -> None:
            stopped.set()

    prompt.servers = []
    prompt.lifespan = Lifespan()  # type: ignore[assignment]
    await asyncio.wait_for(prompt.shutdown(), 10)
    assert stopped.is_set()


async def test_a_connection_that_fails_to_shut_down_does_not_stop_the_rest() -> None:
    prompt = server()
    stopped = asyncio.Event()
    closed: list[str] = []
    connections = prompt.server_state.connections

    class Lifespan:
        async def shutdown(self) -> None:
            stopped.set()

    class Transport:
        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def close(self) -> None:
            closed.append(self.connection.name)
            connections.discard(self.connection)

    class Connection:
        def __init__(self, name: str, fails: bool) -> None:
            self.name, self.fails = name, fails
            self.transport = Transport(self)

        def shutdown(self) -> None:
            if self.fails:
                raise RuntimeError("refused")
            self.transport.close()

    for name, fails in (("first", False), ("failing", True), ("last", False)):
        connections.add(Connection(name, fails))  # type: ignore[arg-type]
    prompt.servers = []
    prompt.lifespan = Lifespan()  # type: ignore[assignment]
    await asyncio.wait_for(prompt.shutdown(), 10)
    assert sorted(closed) == ["failing", "first", "last"]
    assert not connections and stopped.is_set()
