"""SIGTERM with messages in flight, on a real `roomcast serve` process: handlers already running
finish and their acks are sent before the sockets are disconnected, so every message is acked
or not stored (none stored but unanswered, which a retrying client would post twice), and the
process exits with status 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.models import MAX_PAGE_SIZE, PageParams
from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, Sock
from tests.integration.realtime.wire import CLOSE, TEXT, RawWebSocket, ack_of, frame, text
from tests.support.services import RedisServer, redis_server, wait_until

pytestmark = pytest.mark.slow


class Received:
    """What one socket received, in order: its acks by id, and when `session:ending` came."""

    def __init__(self) -> None:
        self.acks: dict[int, dict[str, object]] = {}
        self.acks_after_ending: list[int] = []
        self.ending = False
        self.joined = asyncio.Event()
        self.presence = 0  # presence frames (joined, updated, left) received
        self.last: list[str] = []  # from session:ending on: each packet, then "close <code>"

    async def read(self, ws: RawWebSocket) -> None:
        """Until the server closes the connection (or drops it); its close frame is answered,
        as a client's would be."""
        while True:
            try:
                opcode, payload = await ws.recv()
            except (OSError, EOFError, TimeoutError):
                return
            if opcode == CLOSE:
                self.last.append(f"close {int.from_bytes(payload[:2], 'big')}")
                with contextlib.suppress(OSError):
                    ws.writer.write(frame(CLOSE, payload[:2]))
                return
            if opcode != TEXT:
                continue
            packet = payload.decode()
            if packet.startswith('42["presence:'):
                self.presence += 1
            if self.ending or packet.startswith('42["session:ending"'):
                self.last.append(packet[:19])
            found = ack_of(packet)
            if found is not None:
                self.acks[found[0]] = found[1]
                if self.ending:
                    self.acks_after_ending.append(found[0])
                if found[0] == 1:
                    self.joined.set()
            elif packet.startswith('42["session:ending"'):
                self.ending = True


async def stored_client_ids(data_dir: Path, meeting_id: str) -> set[str]:
    settings = Settings(env="test", data_dir=data_dir, _env_file=None)
    mongo, db = open_mongo(settings)
    try:
        stores, found, offset = Stores.over(db), set(), 0
        while True:
            page = await stores.messages.list_for_meeting(
                meeting_id, PageParams(limit=MAX_PAGE_SIZE, offset=offset))
            found |= {m.client_id for m in page.items if m.client_id}
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return found
    finally:
        await close_mongo(mongo)


async def joined(url: str, users: list[Any], room: str) -> tuple[
        list[RawWebSocket], list[Received], list[asyncio.Task[None]]]:
    """A socket per user, each reading what it receives and joined to `room` (ack id 1)."""
    sockets = [await RawWebSocket.open(url, user.token) for user in users]
    received = [Received() for _ in sockets]
    readers = [asyncio.create_task(r.read(ws)) for r, ws in zip(received, sockets, strict=True)]
    for ws in sockets:
        ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
    await asyncio.wait_for(asyncio.gather(*(r.joined.wait() for r in received)), 30)
    return sockets, received, readers


def listening(url: str) -> bool:
    try:
        httpx.get(url + "/health/live", timeout=2)
    except httpx.HTTPError:
        return False
    return True


async def test_sigterm_acks_every_message_in_flight_or_stores_none(
    seed: Seed, start_server: StartServer, tmp_path: Path, long_form: bool
) -> None:
    clients, per_client = (60, 30) if long_form else (20, 20)
    total = clients * per_client
    users = [seed.user() for _ in range(clients)]
    meeting_id = seed.meeting(seed.project(*users), users[0])
    room = f"meeting:{meeting_id}"
    with redis_server() as redis:
        server = start_server(redis_url=redis.url)
        sockets, received, readers = await joined(server.url, users, room)
        assert all(r.acks.pop(1)["ok"] for r in received)
        events_before = events_in(server.url)
        # Redis stalls, so every message's handler is held mid-way (its publish waits) when
        # SIGTERM comes; it resumes once the server has begun to drain.
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            for n, ws in enumerate(sockets):
                ws.writer.write(b"".join(
                    text(f'42{i}["message",{{"room":"{room}","text":"m",'
                         f'"client_id":"c{n}-{i}"}}]') for i in range(2, 2 + per_client)))
            await asyncio.to_thread(
                wait_until, lambda: events_in(server.url) >= events_before + total,
                timeout=30, what="the server reading every message")
            server.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(wait_until, lambda: not listening(server.url), timeout=30,
                                    what="the server leaving the rotation")
            in_flight = total - sum(len(r.acks) for r in received)
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
        returncode = await asyncio.to_thread(server.proc.wait, 60)
    for ws in sockets:
        ws.close()

    acked_ok = {f"c{n}-{i}" for n, r in enumerate(received) for i, ack in r.acks.items()
                if ack["ok"]}
    refused = [ack for r in received for ack in r.acks.values() if not ack["ok"]]
    stored = await stored_client_ids(tmp_path / f"data-{server.port}", meeting_id)
    assert returncode == 0, server.log()[-3000:]
    assert in_flight == total  # every handler was held when SIGTERM came
    # The acks of running handlers are sent before the socket is told to go.
    assert all(not r.acks_after_ending for r in received), [r.acks_after_ending
                                                             for r in received]
    assert stored - acked_ok == set(), f"stored but never acked: {sorted(stored - acked_ok)}"
    assert acked_ok <= stored
    assert all(ack["error"]["code"] == "service_unavailable" for ack in refused), refused  # type: ignore[index]
    assert "Traceback" not in server.log()
    print(f"\n{total} messages in flight at SIGTERM: {len(acked_ok)} acked and stored, "
          f"{len(refused)} refused (service_unavailable), {total - len(acked_ok) - len(refused)}"
          " never answered; 0 stored unacked; exit status 0")


def events_in(url: str) -> float:
    body = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith("roomcast_events_in_total{"))


async def stays_of(data_dir: Path, meeting_id: str) -> list[object]:
    settings = Settings(env="test", data_dir=data_dir, _env_file=None)
    mongo, db = open_mongo(settings)
    try:
        return [stay.left_at for stay in
                await Stores.over(db).attendance.list_for_meeting(meeting_id)]
    finally:
        await close_mongo(mongo)


async def test_sigterm_ends_every_meeting_stay_of_its_sockets(
    seed: Seed, start_server: StartServer, tmp_path: Path,
) -> None:
    users = [seed.user() for _ in range(12)]
    meeting_id = seed.meeting(seed.project(*users), users[0])
    server = start_server()
    sockets, received, readers = await joined(server.url, users, f"meeting:{meeting_id}")
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    assert await asyncio.to_thread(server.proc.wait, 60) == 0, server.log()[-3000:]
    for ws in sockets:
        ws.close()
    # Read before any start-up, which would end what a stop left open.
    left = await stays_of(tmp_path / f"data-{server.port}", meeting_id)
    assert len(left) == len(users)
    assert all(at is not None for at in left), left
    assert all(r.ending for r in received)  # each was told why, then disconnected


async def test_sigterm_on_embedded_presence_tells_no_departures_to_closing_sockets(
    seed: Seed, start_server: StartServer, tmp_path: Path,
) -> None:
    """Presence in the process's memory: every socket of every room leaves with it, so the stop
    sends no presence:left or presence:updated to sockets on their way out; each is still told
    why, then disconnected, then closed, and its meeting stay is ended."""
    users = [seed.user() for _ in range(10)]
    meeting_id = seed.meeting(seed.project(*users), users[0])
    room = f"meeting:{meeting_id}"
    server = start_server()
    sockets = [await RawWebSocket.open(server.url, user.token) for user in users]
    received = [Received() for _ in sockets]
    readers = [asyncio.create_task(r.read(ws)) for r, ws in zip(received, sockets, strict=True)]
    for ws, r in zip(sockets, received, strict=True):  # one by one: each joiner tells those before
        ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
        await asyncio.wait_for(r.joined.wait(), 30)
    joins = len(users) * (len(users) - 1) // 2
    await asyncio.to_thread(wait_until, lambda: sum(r.presence for r in received) == joins,
                            timeout=30, what="every presence:joined delivered")
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    assert await asyncio.to_thread(server.proc.wait, 60) == 0, server.log()[-3000:]
    for ws in sockets:
        ws.close()
    assert sum(r.presence for r in received) == joins  # nothing about the departures
    # Told why, then the Socket.IO disconnect, then the closing handshake.
    assert all(r.last[0].startswith('42["session:ending"') for r in received), [
        r.last for r in received]
    assert all(r.last[1:] == ["41", "close 1012"] for r in received), [r.last for r in received]
    left = await stays_of(tmp_path / f"data-{server.port}", meeting_id)
    assert len(left) == len(users) and all(at is not None for at in left), left
    assert "Traceback" not in server.log()


async def test_sigterm_with_redis_presence_tells_the_other_process_of_each_departure(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock], rt_redis: RedisServer,
) -> None:
    """Presence shared over Redis: the room spans processes, so a stopping one still removes
    its sockets' entries and announces them (left, or updated for a user still elsewhere)."""
    alice, bob, carol = seed.user("alice"), seed.user("bob"), seed.user("carol")
    room = f"meeting:{seed.meeting(seed.project(alice, bob, carol), alice)}"
    leaving, staying = start_server.many(2, redis_url=rt_redis.url)
    watcher = await socks().connect(staying.url, bob.token)
    await watcher.join(room)
    for url, user in ((leaving.url, alice), (staying.url, alice), (leaving.url, carol)):
        await (await socks().connect(url, user.token)).join(room)
    await asyncio.to_thread(leaving.stop)  # SIGTERM
    left = await watcher.wait_for(lambda: watcher.named("presence:left"))
    assert left == [{"room": room, "user_id": carol.id}]
    await watcher.wait_for(lambda: [u for u in watcher.named("presence:updated")
                                    if u["user"]["user_id"] == alice.id
                                    and u["user"]["connections"] == 1])
    assert "Traceback" not in leaving.log()
