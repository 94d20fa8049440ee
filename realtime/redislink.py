"""Roomcast's own Redis connections for the per-message path: commands and pub/sub.

Every event a client must not miss is one Redis command (the room stream append, which also
publishes), and every process that has a member in the room receives it once over pub/sub.
Through redis-py's asyncio client each of those costs tens of microseconds of Python (a
pipeline object, a connection checked out of a pool, a timeout context per read, an async
generator per pub/sub message), which is more than the rest of a message's path together.
Here a connection is an `asyncio.Protocol`: commands are packed by hiredis and written
together once per loop turn, replies are parsed by hiredis in `data_received` and resolve the
callers' futures in order, and pub/sub messages are handed to a callback straight from
`data_received`, with no task in between.

A join's two Redis steps (its presence entry with the room's snapshot, its history read with
the room's position: one script each) and presence removals take the same link, so a crowd of
rejoins is pipelined like messages are. The presence heartbeat and reaping and the broker keep
redis-py: they are not per message or per join.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import ConnectionPool, SSLConnection, UnixDomainSocketConnection

from core.errors import RoomcastError, ServiceUnavailable

log = logging.getLogger("roomcast.realtime")

Arg = str | bytes | int | float


class RedisRefused(RoomcastError):
    """Redis answered a command with an error reply that trying again will not change (a wrong
    type, a script error, a wrong password): not an outage, so never retried."""

    default_message = "Redis refused the command"


class RedisBusy(ServiceUnavailable):
    """Redis answered with an error reply that passes (loading its data, busy with a script,
    failing over, out of memory): retried like an outage."""

    default_message = "Redis cannot serve the command for now"


class RedisTimedOut(ServiceUnavailable):
    """Redis sent no reply in the link's timeout: the connection was ended, and the commands
    waiting on it failed with this (a hung Redis, not an unreachable one)."""

    default_message = "Redis sent no reply in time"


# The error replies that say "not now" rather than "never" (Redis' own prefixes).
PASSING_REPLIES = frozenset({"LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN",
                             "CLUSTERDOWN", "OOM", "NOREPLICAS", "MISCONF"})


def refusal(reply: object) -> RoomcastError:
    """The error for an error reply: RedisBusy if it passes, RedisRefused otherwise."""
    text = str(reply)
    kind = RedisBusy if text.split(" ", 1)[0] in PASSING_REPLIES else RedisRefused
    return kind(f"Redis refused the command: {text}")


def _unreachable() -> ServiceUnavailable:
    return ServiceUnavailable("Redis cannot be reached")


@dataclass(frozen=True)
class RedisAddress:
    """Where the server's Redis is and how to sign in: read off its redis-py client, so both
    kinds of connection always go to the same place."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a Unix socket instead of host and port
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None  # None: plain TCP
    connect_timeout: float = 5.0

    @classmethod
    def of(cls, redis: Redis) -> RedisAddress:
        pool = redis.connection_pool
        kwargs = pool.connection_kwargs
        return cls(host=kwargs.get("host", "127.0.0.1"), port=int(kwargs.get("port", 6379)),
                   path=kwargs.get("path") if issubclass(
                       pool.connection_class, UnixDomainSocketConnection) else None,
                   db=int(kwargs.get("db", 0) or 0), username=kwargs.get("username"),
                   password=kwargs.get("password"), tls=_tls_context(pool),
                   connect_timeout=float(kwargs.get("socket_connect_timeout") or 5.0))

    def handshake(self) -> list[tuple[Arg, ...]]:
        """The commands a new connection sends first."""
        commands: list[tuple[Arg, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", *((self.username,) if self.username else ()),
                             self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands

    async def connect(self, factory: Callable[[], asyncio.Protocol]) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self.path is not None:
                    transport, _ = await loop.create_unix_connection(factory, self.path)
                else:
                    transport, _ = await loop.create_connection(
                        factory, self.host, self.port, ssl=self.tls)
        except (OSError, TimeoutError) as exc:
            raise _unreachable() from exc
        return transport


def _tls_context(pool: ConnectionPool) -> ssl.SSLContext | None:
    """The TLS context redis-py itself would use, built from the same options (`ssl_ca_certs`,
    `ssl_certfile`, `ssl_cert_reqs`, `ssl_check_hostname`, ... in the URL or the client), so
    a certificate Redis is trusted by both kinds of connection or by neither."""
    if not issubclass(pool.connection_class, SSLConnection):
        return None
    # Building a connection object connects nothing; its context is redis-py's own.
    return pool.connection_class(**pool.connection_kwargs).ssl_context.get()


class _Connection(asyncio.Protocol):
    """One connection's RESP stream: replies in order, or pushes (pub/sub) to a callback."""

    def __init__(self, on_push: Callable[[Any], None] | None = None,
                 on_lost: Callable[[_Connection], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._reader = hiredis.Reader()
        self._on_push = on_push
        self._on_lost = on_lost
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._flushing = False
        self.replied = False  # whether Redis has answered anything on this connection
        self.timed_out = False  # ended because a reply was overdue

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, args: Iterable[Arg], *, reply: bool = True) -> asyncio.Future[Any] | None:
        """Queue one command for this loop turn's write; its reply resolves the future."""
        if self.lost:
            raise _unreachable()
        # hiredis types its argument as a one-element tuple; it packs any number.
        self._out.append(hiredis.pack_command(tuple(args)))  # type: ignore[arg-type]
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)
        if not reply:
            return None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((future, time.monotonic()))
        return future

    def _flush(self) -> None:
        self._flushing = False
        if self._out and self.transport is not None and not self.lost:
            data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
            self._out = []
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.replied = True
        reader = self._reader
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if self._on_push is not None:
                self._on_push(reply)
                continue
            if not self._waiting:
                log.warning("an unexpected Redis reply: %r", reply)
                continue
            future, _ = self._waiting.popleft()
            if future.done():  # the caller went away
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(refusal(reply))
            else:
                future.set_result(reply)

    def oldest(self) -> float | None:
        """When the longest-waiting command was queued."""
        return self._waiting[0][1] if self._waiting else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiting, self._waiting = self._waiting, deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(RedisTimedOut() if self.timed_out else _unreachable())
        if self._on_lost is not None:
            self._on_lost(self)

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()


class RedisLink:
    """One pipelined command connection, opened on first use and again after a loss.

    A command that gets no reply within `timeout` seconds ends the connection, so a Redis that
    hangs fails every waiting caller with `ServiceUnavailable` instead of stalling them.
    """

    def __init__(self, address: RedisAddress, *, timeout: float = 5.0) -> None:
        self._address = address
        self._timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def call(self, *args: Arg) -> Any:
        """Send one command and return its reply (bytes, int, list, None)."""
        conn = self._conn
        if conn is None or conn.lost:
            conn = await self._connection()
        future = conn.send(args)
        assert future is not None
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout, self._watch)
        return await future

    async def evalsha(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run a script by its digest; load it with EVAL the first time Redis lacks it."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisRefused as exc:
            if "NOSCRIPT" not in exc.message:
                raise
        return await self.call("EVAL", script.body, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _connection(self) -> _Connection:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _open(self) -> _Connection:
        conn = _Connection()
        await self._address.connect(lambda: conn)
        checks = [conn.send(command) for command in self._address.handshake()]
        try:
            for check in checks:
                await check  # type: ignore[misc]
        except RoomcastError:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _watch(self) -> None:
        self._watchdog = None
        conn = self._conn
        oldest = conn.oldest() if conn is not None else None
        if conn is None or oldest is None:
            return
        if time.monotonic() - oldest > self._timeout:
            log.warning("Redis sent no reply in %.1f s: reconnecting", self._timeout)
            conn.timed_out = True
            if conn.transport is not None:
                conn.transport.abort()
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._timeout / 2, self._watch)


class LuaScript:
    """A script run by its SHA-1 digest, so its text crosses the wire once per connection."""

    __slots__ = ("body", "sha")

    def __init__(self, body: str) -> None:
        self.body = body
        self.sha = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()


class RedisSubscriber:
    """The pub/sub connection: channels to subscribe to, messages to a callback.

    `on_message(channel, data)` and `on_subscribed(channel)` are called from `data_received`.
    The connection is kept open: after a loss (`on_lost`) it is opened again with a growing
    pause and every channel is subscribed again, `last` after all the others, so its
    confirmation says the whole set is back. Messages published while it was down were not
    received; the room streams still hold them.
    """

    def __init__(self, address: RedisAddress, *,
                 on_message: Callable[[bytes, bytes], None],
                 on_subscribed: Callable[[bytes], None],
                 on_lost: Callable[[str], None] | None = None,
                 last: str | None = None,
                 pause: tuple[float, float] = (0.5, 5.0)) -> None:
        self._address = address
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._last = last
        self._pause = pause
        self._channels: dict[str, None] = {}  # in the order they were added
        self._conn: _Connection | None = None
        self._keeper: asyncio.Task[None] | None = None

    def subscribe(self, channel: str) -> None:
        self._channels[channel] = None
        self._send_now("SUBSCRIBE", channel)

    def unsubscribe(self, channel: str) -> None:
        self._channels.pop(channel, None)
        self._send_now("UNSUBSCRIBE", channel)

    def _send_now(self, *command: Arg) -> None:
        # Without a live connection the next one subscribes the whole set (`_open`).
        if self._conn is not None and not self._conn.lost:
            self._conn.send(command, reply=False)

    def start(self) -> None:
        """Keep the connection open from now on (its first attempt starts at once)."""
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep(), name="roomcast-redis-subscriber")

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _keep(self) -> None:
        first, most = self._pause
        pause = first
        while True:
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                await self._open(lost)
            except RoomcastError as exc:  # down, or refusing us (a wrong password): try again
                self._report_lost(exc.message)
            else:
                await lost
                self._report_lost("the connection closed")
                if self._conn is not None and self._conn.replied:
                    pause = first  # it had worked: try again soon
            await asyncio.sleep(pause)
            pause = min(pause * 2, most)

    def _report_lost(self, why: str) -> None:
        if self._on_lost is not None:
            self._on_lost(why)

    async def _open(self, lost: asyncio.Future[None]) -> None:
        def on_lost(_: _Connection) -> None:
            if not lost.done():
                lost.set_result(None)

        conn = _Connection(on_push=self._push, on_lost=on_lost)
        await self._address.connect(lambda: conn)
        for command in self._address.handshake():
            conn.send(command, reply=False)
        channels = [c for c in self._channels if c != self._last]
        if self._last is not None and self._last in self._channels:
            channels.append(self._last)
        if channels:
            conn.send(("SUBSCRIBE", *channels), reply=False)
        self._conn = conn

    def _push(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.warning("Redis pub/sub refused a command: %s", reply)
            return
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind = reply[0]
        if kind == b"message":
            self._on_message(reply[1], reply[2])
        elif kind == b"subscribe":
            self._on_subscribed(reply[1])
