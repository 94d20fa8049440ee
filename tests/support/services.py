"""Real services for tests: a redis-server and an S3 server (moto) on free ports, started and
stopped by the tests themselves; `roomcast serve` processes likewise."""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceDied(RuntimeError):
    """The process a wait was for has exited: waiting longer cannot help."""


def wait_until(check: object, *, timeout: float = 15.0, what: str = "service") -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except ServiceDied:
            raise
        except Exception as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready in {timeout}s: {last}")


async def eventually(check: Callable[[], Any], *, what: str, bound: float = 30.0) -> Any:
    """Poll `check` (plain or async) until it answers something true; fail after `bound`
    seconds (a deadline for a condition, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"never happened within {bound}s: {what}")
        await asyncio.sleep(0.01)


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# Tests that need a Redis of their own take a database each (a worker cluster per test): more
# than the default 16, so a whole run in one process (`make test TEST_WORKERS=0`) has enough.
REDIS_DATABASES = 256


def start_redis(port: int | None = None, *, password: str | None = None) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: install it with 'apt-get install redis-server'")
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--loglevel", "warning", "--databases", str(REDIS_DATABASES),
         *(["--requirepass", password] if password else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password=password)
    try:
        wait_until(client.ping, what="redis-server")
    finally:
        client.close()
    return RedisServer(port, proc)


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class S3Server:
    endpoint: str  # host:port, as S3_ENDPOINT takes it
    proc: subprocess.Popen[bytes]
    access_key: str = "testing"
    secret_key: str = "testing"


@contextmanager
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code < 500,
                   what="moto S3 server")
        yield S3Server(f"127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class ServerProcess:
    """A real `roomcast serve` in its own process."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_roomcast(
    env: dict[str, str], log_dir: Path, *, command: str = "serve", args: list[str] | None = None,
    port: int | None = None, ready_path: str = "/health/live",
) -> ServerProcess:
    port = port or free_port()
    log_path = log_dir / f"roomcast-{command}-{port}.log"
    # Its own DATA_DIR unless told: the embedded store it opens there has one owner.
    full_env = {**os.environ, "ENV": "test", "LOG_LEVEL": "INFO",
                "DATA_DIR": str(log_dir / f"data-{port}"), **env}
    cmd = [sys.executable, "-m", "roomcast.cli", command]
    if command == "serve":
        cmd += ["--host", "127.0.0.1", "--port", str(port)]
    cmd += args or []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
    server = ServerProcess(port, proc, log_path)
    if command == "serve":
        def ready() -> bool:
            if proc.poll() is not None:
                raise ServiceDied(f"roomcast serve exited early:\n{server.log()}")
            return httpx.get(server.url + ready_path, timeout=1).status_code == 200

        try:
            # A process that dies is reported at once; the wait itself is long because on a
            # machine whose cores are all busy, importing the stack alone can take tens of seconds.
            wait_until(ready, timeout=90, what=f"roomcast serve on {port}")
        except Exception:
            server.stop()
            raise
    return server
