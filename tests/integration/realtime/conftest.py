"""Fixtures for the socket server tests: a Redis of their own and seeded server processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.realtime.support import Seed, Sock, start_seeded
from tests.support.services import RedisServer, ServerProcess, redis_server, start_redis


class StartServer:
    """Starts seeded `roomcast serve` processes; the seed is written as each batch starts."""

    def __init__(self, seed: Seed, tmp_path: Path) -> None:
        self._seed = seed
        self._tmp_path = tmp_path
        self.started: list[ServerProcess] = []

    def __call__(self, **env: str) -> ServerProcess:
        return self.many(1, **env)[0]

    def many(self, count: int, **env: str) -> list[ServerProcess]:
        """`count` servers with the same settings, booting in parallel."""
        seed_file = self._seed.write(self._tmp_path / "seed.json")
        servers = start_seeded(seed_file, {k.upper(): v for k, v in env.items()},
                               self._tmp_path, count)
        self.started.extend(servers)
        return servers

    def stop(self) -> None:
        for server in self.started:
            server.stop()


@contextmanager
def shared_server(seed: Seed, log_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """One seeded server for every case of a parametrized test whose cases each need only a
    fresh connection of their own user (every user seeded before it starts): a module fixture
    starts it once instead of once per case."""
    starter = StartServer(seed, log_dir)
    try:
        yield starter(**env)
    finally:
        starter.stop()


@pytest.fixture(scope="module")
def rt_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of one test's own, which it may kill or stop (SIGSTOP); killed after."""
    server = start_redis()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def seed() -> Seed:
    return Seed()


@pytest.fixture
def start_server(seed: Seed, tmp_path: Path) -> Iterator[StartServer]:
    starter = StartServer(seed, tmp_path)
    yield starter
    starter.stop()


@pytest.fixture
async def socks() -> AsyncIterator[Callable[[], Sock]]:
    made: list[Sock] = []

    def make() -> Sock:
        sock = Sock()
        made.append(sock)
        return sock

    yield make
    for sock in made:
        await sock.close()
