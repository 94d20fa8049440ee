"""The embedded default's presence across a normal restart: what a stop saves, the next start
holds for PRESENCE_TTL_SECONDS; a returning connection takes a held place, and what is not
taken back in time leaves as a dead process's connections do."""

from __future__ import annotations

import os
import random
from pathlib import Path

import orjson
import pytest

from realtime import presence as presence_module
from realtime.presence import MemoryPresenceStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


ROOM = "meeting:m"


async def filled(clock: Clock) -> MemoryPresenceStore:
    """Ann with two tabs (the latest away), Bob with one, in ROOM; Bob alone in another."""
    store = MemoryPresenceStore(clock=clock)
    await store.enter(ROOM, "a1", "ann", "Ann", "online")
    clock.now += 1
    await store.enter(ROOM, "a2", "ann", "Ann", "away")
    await store.enter(ROOM, "b1", "bob", "Bob", "online")
    await store.enter("project:p", "b1", "bob", "Bob", "online")
    return store


def table(entries: list) -> list[tuple[str, str, str, int]]:
    return [(e.user_id, e.name, e.status, e.connections) for e in entries]


async def restarted(tmp_path: Path, clock: Clock, hold_for: float = 30) -> MemoryPresenceStore:
    path = tmp_path / "presence.saved"
    assert (await filled(clock)).save(path, hold_for) == 4
    store = MemoryPresenceStore(clock=clock)
    assert store.restore(path) == 4
    assert not path.exists()  # taken once
    return store


async def test_a_restart_holds_who_was_there(tmp_path: Path) -> None:
    clock = Clock()
    before = await filled(clock)
    store = await restarted(tmp_path, clock)
    for room in (ROOM, "project:p"):
        assert table(await store.snapshot(room)) == table(await before.snapshot(room))
    assert table(await store.snapshot(ROOM)) == [("ann", "Ann", "away", 2), ("bob", "Bob",
                                                                             "online", 1)]
    assert store.held() == 4
    assert await store.reap() == []  # nothing is due yet


async def test_a_returning_connection_takes_a_held_place(tmp_path: Path) -> None:
    clock = Clock()
    store = await restarted(tmp_path, clock)
    count, room, replaced = await store.enter(ROOM, "b9", "bob", "Bob", "online")
    # Bob was counted once and still is: the room is told nothing (the entry is unchanged).
    assert count == 1 and replaced is not None
    assert table([replaced]) == [("bob", "Bob", "online", 1)]
    assert table(room) == [("ann", "Ann", "away", 2), ("bob", "Bob", "online", 1)]
    # Ann comes back with one tab, online: her status changes, her count does not.
    count, room, replaced = await store.enter(ROOM, "a9", "ann", "Ann", "online")
    assert count == 2 and replaced is not None and replaced.status == "away"
    assert table(room)[0] == ("ann", "Ann", "online", 2)
    # A connection beyond those held is counted as any other.
    count, room, replaced = await store.enter(ROOM, "b8", "bob", "Bob", "online")
    assert (count, replaced) == (2, None)
    # The same connection again takes nothing more.
    count, _, replaced = await store.enter(ROOM, "a9", "ann", "Ann", "online")
    assert (count, replaced) == (2, None)
    assert store.held() == 2  # Ann's second tab, Bob in project:p


async def test_what_is_not_taken_back_in_time_leaves(tmp_path: Path) -> None:
    clock = Clock()
    store = await restarted(tmp_path, clock, hold_for=30)
    await store.enter(ROOM, "a9", "ann", "Ann", "online")  # one of Ann's two is back
    clock.now += 29.9
    assert await store.reap() == []
    clock.now += 0.2
    departures = sorted(await store.reap(), key=lambda d: (d.room, d.user_id))
    assert [(d.room, d.user_id, d.remaining, d.held) for d in departures] == [
        (ROOM, "ann", 1, True), (ROOM, "bob", 0, True), ("project:p", "bob", 0, True)]
    assert table(await store.snapshot(ROOM)) == [("ann", "Ann", "online", 1)]
    assert await store.snapshot("project:p") == []
    assert store.held() == 0 and await store.reap() == []
    # The socket that came back leaves as any other.
    departure = await store.remove(ROOM, "a9")
    assert departure is not None and (departure.remaining, departure.held) == (0, False)
    assert await store.snapshot(ROOM) == []


async def test_another_restart_keeps_a_held_connection_s_own_time(tmp_path: Path) -> None:
    """Restarted again before a held connection's time is up: it is saved with its own time,
    not a new one, so restarts in a row cannot keep a user who never came back."""
    clock = Clock()
    store = await restarted(tmp_path, clock, hold_for=30)
    await store.enter(ROOM, "a9", "ann", "Ann", "away")
    clock.now += 20
    path = tmp_path / "presence.saved"
    assert store.save(path, 30) == 4  # three held, one live
    again = MemoryPresenceStore(clock=clock)
    assert again.restore(path) == 4
    clock.now += 10.1  # the held ones' 30 s are up, the live one's next 30 s are not
    departures = await again.reap()
    assert sorted((d.room, d.user_id, d.remaining) for d in departures) == [
        (ROOM, "ann", 1), (ROOM, "bob", 0), ("project:p", "bob", 0)]
    assert table(await again.snapshot(ROOM)) == [("ann", "Ann", "away", 1)]


async def test_a_stale_file_holds_nothing(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "presence.saved"
    (await filled(clock)).save(path, 30)
    clock.now += 31  # started again after the time was up
    store = MemoryPresenceStore(clock=clock)
    assert store.restore(path) == 0 and not path.exists()
    assert await store.snapshot(ROOM) == [] and store.held() == 0


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b'{"version": 2, "rooms": {}}', b'{"version": 1}',
    b'{"version": 1, "rooms": []}', b'{"version": 1, "rooms": {"r": {}}}',
    b'{"version": 1, "rooms": {"r": [["u", "n", "online"]]}}',
    b'{"version": 1, "rooms": {"r": [["u", 1, "online", [5e9]]]}}',
    b'{"version": 1, "rooms": {"r": [["u", "n", "online", 5e9]]}}',
    b'{"version": 1, "rooms": {"r": [["u", "n", "online", ["x"]]]}}',
    b'{"version": 1, "rooms": {"r": [["u", "n", "online", [true]]]}}',
])
async def test_an_unreadable_file_holds_nothing(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "presence.saved"
    path.write_bytes(body)
    store = MemoryPresenceStore(clock=Clock())
    assert store.restore(path) == 0
    assert not path.exists()
    assert await store.snapshot("r") == []


async def test_a_file_that_cannot_be_removed_holds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    path = tmp_path / "presence.saved"
    (await filled(clock)).save(path, 30)

    def refused(_: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(presence_module, "forget", refused)
    store = MemoryPresenceStore(clock=clock)
    assert store.restore(path) == 0 and store.held() == 0


async def test_the_saved_file_is_written_whole(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "presence.saved"
    (await filled(clock)).save(path, 30)
    saved = orjson.loads(path.read_bytes())
    assert saved["version"] == 1
    assert saved["rooms"][ROOM] == [["ann", "Ann", "away", [clock.now + 30] * 2],
                                    ["bob", "Bob", "online", [clock.now + 30]]]
    assert sorted(os.listdir(tmp_path)) == ["presence.saved"]  # no partial file left


async def test_the_kept_snapshot_is_always_the_room_as_it_stands(tmp_path: Path) -> None:
    """Random entries, returns, status changes, departures and reaps: after each, the room's
    snapshot is what its entries make (read afresh by a store that keeps nothing)."""
    rng = random.Random(7)
    clock = Clock()
    store = await restarted(tmp_path, clock, hold_for=50)
    names = {"ann": "Ann", "bob": "Bob", "cid": "Cid"}
    live: list[tuple[str, str]] = []
    for step in range(400):
        action = rng.random()
        room = rng.choice([ROOM, "project:p"])
        if action < 0.5:
            user = rng.choice(list(names))
            sid = f"s{step}"
            await store.enter(room, sid, user, names[user], rng.choice(["online", "away"]))
            live.append((room, sid))
        elif action < 0.75 and live:
            await store.remove(*live.pop(rng.randrange(len(live))))
        elif action < 0.9 and live:
            room, sid = rng.choice(live)
            user = store._users[room][sid]
            await store.add(room, sid, user, names[user], rng.choice(["online", "away"]))
        else:
            clock.now += 5
            await store.reap()
        for room in (ROOM, "project:p"):
            fresh = presence_module._aggregate(list(store._rooms.get(room, {}).values()))
            assert table(await store.snapshot(room)) == table(fresh), step
