"""A dead process's connections, reaped from presence by a survivor: their stays end and their
rooms are told, every departure at once rather than each after the one before."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from core.revocations import MemoryRevocations
from core.settings import Settings
from core.store.database import open_mongo
from core.store.stores import Stores
from core.tokens import TokenService
from realtime.hub import Hub
from realtime.presence import Departure
from realtime.server import build_realtime

COUNT = 40


class HeldBus:
    """A room bus whose publishes are answered only once `count` of them are waiting: told
    one after the other, the departures would never get past the first."""

    def __init__(self, count: int) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self._count = count
        self._all_sent = asyncio.Event()

    async def publish(self, room: str, frame: str, skip_sid: str | None = None) -> None:
        self.sent.append((room, orjson.loads(frame[1:])))
        if len(self.sent) == self._count:
            self._all_sent.set()
        await self._all_sent.wait()


def hub_over(tmp_path: Any) -> tuple[Hub, Stores]:
    """A process's hub over an embedded store of its own, without Redis."""
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    _, db = open_mongo(settings)
    stores = Stores.over(db)
    realtime = build_realtime(settings, stores=stores, tokens=TokenService(settings),
                              revocations=MemoryRevocations(), redis=None)
    assert realtime.hub is not None
    return realtime.hub, stores


async def test_every_departure_of_a_dead_process_is_told_at_once(tmp_path: Any) -> None:
    hub, stores = hub_over(tmp_path)
    for n in range(COUNT):
        await stores.attendance.open(f"m{n}", f"u{n}", f"s{n}")
    bus = HeldBus(COUNT)
    hub.bus = bus  # type: ignore[assignment]
    departures = [Departure(f"meeting:m{n}", f"s{n}", f"u{n}", 0) for n in range(COUNT)]

    # Bounded only so that telling them one by one fails instead of hanging.
    await asyncio.wait_for(hub.announce_departures(departures), timeout=10)

    assert sorted(bus.sent) == sorted(
        (f"meeting:m{n}", ["presence:left", {"room": f"meeting:m{n}", "user_id": f"u{n}"}])
        for n in range(COUNT))
    for n in range(COUNT):
        stays = await stores.attendance.list_for_meeting(f"m{n}")
        assert [stay.left_at is not None for stay in stays] == [True]


async def test_a_taken_place_ends_its_stay_and_is_told_to_nobody(tmp_path: Any) -> None:
    """A dead process's connection whose user came back naming it (`previous`): its stay ends
    with the others', and only the departures that are departures reach the rooms."""
    hub, stores = hub_over(tmp_path)
    await stores.attendance.open("m1", "u1", "gone")  # its place was taken
    await stores.attendance.open("m1", "u2", "left")  # a departure
    await stores.attendance.open("m1", "u1", "back")  # the connection that took the place
    bus = HeldBus(1)
    hub.bus = bus  # type: ignore[assignment]

    await asyncio.wait_for(hub.announce_departures([
        Departure("meeting:m1", "gone", "", 0, taken=True),
        Departure("meeting:m1", "left", "u2", 0)]), timeout=10)

    assert bus.sent == [("meeting:m1", ["presence:left", {"room": "meeting:m1",
                                                          "user_id": "u2"}])]
    ended = {stay.sid: stay.left_at is not None
             for stay in await stores.attendance.list_for_meeting("m1")}
    assert ended == {"gone": True, "left": True, "back": False}
