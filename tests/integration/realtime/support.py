"""Test helpers for the socket server: seeded `roomcast serve` processes and a recording client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import orjson
import socketio
from pymongo import MongoClient
from redis.asyncio import Redis

from core.ids import new_id
from core.models import Role
from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from core.tokens import TokenService
from realtime.emitter import KEY_PREFIX, RedisEmitter
from tests.support.services import ROOT, ServerProcess, free_port, wait_until


@dataclass
class SeedUser:
    id: str
    name: str
    token: str


@dataclass
class Seed:
    """Documents every server process loads at start, and tokens for the users."""

    users: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    _tokens: TokenService = field(
        default_factory=lambda: TokenService(Settings(env="test", _env_file=None))  # type: ignore[call-arg]
    )

    def user(self, name: str = "", *, role: Role = Role.MEMBER, active: bool = True,
             stored: bool = True) -> SeedUser:
        """A user and a token; `stored=False` leaves the account out (a deleted account)."""
        user_id = new_id()
        name = name or f"user-{user_id[:6]}"
        if stored:
            self.users.append({"id": user_id, "email": f"{user_id}@example.com", "name": name,
                               "role": role.value, "active": active})
        token = self._tokens.issue(sub=user_id, role=Role.MEMBER, typ="access").token
        return SeedUser(user_id, name, token)

    def token(self, user: SeedUser, *, expires_in: float | None = None) -> str:
        """A token for the user; `expires_in` (seconds, may be negative) backdates its issue."""
        if expires_in is None:
            return self._tokens.issue(sub=user.id, role=Role.MEMBER, typ="access").token
        ttl = Settings(env="test", _env_file=None).access_token_ttl_seconds  # type: ignore[call-arg]
        issued_at = time.time() - ttl + expires_in
        with mock.patch("core.tokens.time.time", return_value=issued_at):
            return self._tokens.issue(sub=user.id, role=Role.MEMBER, typ="access").token

    def project(self, *members: SeedUser) -> str:
        project_id = new_id()
        self.projects.append({"id": project_id, "name": f"p-{project_id[:6]}",
                              "owner_id": members[0].id, "member_ids": [m.id for m in members]})
        return project_id

    def meeting(self, project_id: str, created_by: SeedUser) -> str:
        meeting_id = new_id()
        self.meetings.append({"id": meeting_id, "project_id": project_id, "title": "standup",
                              "scheduled_at": "2026-01-01T10:00:00Z",
                              "created_by": created_by.id})
        return meeting_id

    def job(self, project_id: str, created_by: SeedUser) -> str:
        job_id = new_id()
        self.jobs.append({"id": job_id, "project_id": project_id, "kind": "ingest",
                          "created_by": created_by.id, "stage": "parsing", "progress": 40})
        return job_id

    def write(self, path: Path) -> Path:
        path.write_bytes(orjson.dumps({"users": self.users, "projects": self.projects,
                                       "meetings": self.meetings, "jobs": self.jobs}))
        return path


def start_seeded(seed_file: Path, env: dict[str, str], log_dir: Path,
                 count: int = 1) -> list[ServerProcess]:
    """Start `count` servers at once (they boot in parallel), and wait until all are ready."""
    servers = [_spawn(seed_file, env, log_dir) for _ in range(count)]
    try:
        for server in servers:
            _wait_ready(server)
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


def _spawn(seed_file: Path, env: dict[str, str], log_dir: Path) -> ServerProcess:
    port = free_port()
    log_path = log_dir / f"roomcast-serve-{port}.log"
    # Each process its own embedded store (one owner per DATA_DIR), loaded from the seed.
    full_env = {**os.environ, "ENV": "test", "LOG_LEVEL": "WARNING",
                "ROOMCAST_TEST_SEED": str(seed_file), "DATA_DIR": str(log_dir / f"data-{port}"),
                **env}
    cmd = [sys.executable, "-m", "tests.integration.realtime.seeded_serve", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
    return ServerProcess(port, proc, log_path)


def _wait_ready(server: ServerProcess, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:  # no point waiting for a process that is gone
            raise RuntimeError(f"the server exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"roomcast serve on {server.port} not ready in {timeout}s")
        time.sleep(0.05)


class Sock:
    """A python-socketio AsyncClient over WebSocket that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.received_at: list[float] = []  # time.monotonic() of each entry in events
        self.connect_error: Any = None
        self._changed = asyncio.Event()

        @self.client.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self.received_at.append(time.monotonic())
            self._changed.set()

        @self.client.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

        @self.client.event
        async def disconnect(reason: Any = None) -> None:
            self._changed.set()

    async def connect(self, url: str, token: str | None,
                      transports: tuple[str, ...] = ("websocket",)) -> Sock:
        auth = {"token": token} if token is not None else {}
        await self.client.connect(url, auth=auth, transports=list(transports), wait_timeout=10)
        return self

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data, timeout=10)

    async def join(self, room: str, **kw: Any) -> Any:
        return await self.call("join", {"room": room, **kw})

    def named(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    def offsets(self, room: str) -> list[int]:
        """The offsets of the room's stored events, in the order they arrived."""
        return [data["offset"] for _, data in self.events
                if isinstance(data, dict) and data.get("room") == room and "offset" in data]

    async def wait_for(self, check: Callable[[], Any], within: float = 20) -> Any:
        async def loop() -> Any:
            while True:
                result = check()
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(loop(), within)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


def processed(offsets: list[int], since: int) -> list[int]:
    """What a client following docs/protocol.md processes: it drops every event whose offset
    is not above the last one it processed."""
    last, kept = since, []
    for offset in offsets:
        if offset > last:
            kept.append(offset)
            last = offset
    return kept


class ShiftedClock:
    """The wall clock moved by `shift` seconds, and moved on by `advance`: what an emitter
    stamps through it is as old, to a server reading the real clock, as the test says."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def __call__(self) -> float:
        return time.time() + self.shift

    def advance(self, seconds: float) -> None:
        self.shift += seconds


@asynccontextmanager
async def redis_emitter(redis_url: str, data_dir: Path,
                        clock: Callable[[], float] = time.time) -> AsyncIterator[RedisEmitter]:
    """The emitter a worker process builds: publishing into rooms from outside the servers
    (`clock` stamps what it stores in the rooms' history)."""
    settings = Settings(env="test", redis_url=redis_url, data_dir=data_dir,
                        _env_file=None)  # type: ignore[call-arg]
    redis = Redis.from_url(redis_url)
    mongo, db = open_mongo(settings)
    emitter = RedisEmitter(redis, Stores.over(db), settings, clock=clock)
    try:
        yield emitter
    finally:
        await emitter.close()
        await redis.aclose()
        await close_mongo(mongo)


async def room_epoch(redis_url: str, room: str) -> str:
    """The epoch a room's offsets count in, as the servers keep it in Redis."""
    redis = Redis.from_url(redis_url)
    try:
        epoch = await redis.get(f"{KEY_PREFIX}epoch:{room}")
    finally:
        await redis.aclose()
    assert epoch is not None, f"{room} has no epoch yet"
    return bytes(epoch).decode()


def rss_bytes(pid: int) -> int:
    """A process's resident memory, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def metric(url: str, name: str) -> float:
    """The sum of a metric's samples on the server's /metrics (all label sets)."""
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{url}/metrics")).text
    values = [float(line.split()[-1]) for line in body.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(values)


@dataclass
class DocumentStore:
    """A MongoDB wire server (tests/integration/workers/mongo_wire.py) that a test may stop."""

    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_document_store() -> DocumentStore:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.workers.mongo_wire", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    store = DocumentStore(f"mongodb://127.0.0.1:{port}/", proc)

    def ping() -> bool:
        with MongoClient(store.url, serverSelectionTimeoutMS=500) as client:
            return bool(client.admin.command("ping")["ok"])

    try:
        wait_until(ping, what="the document store")
    except Exception:
        store.stop()
        raise
    return store
