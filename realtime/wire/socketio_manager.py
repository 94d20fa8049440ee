"""python-socketio's room manager with an index from each socket to its rooms.

Stands in for python-socketio 5.18 `BaseManager.basic_disconnect` and `get_rooms`, which find a
socket's rooms by scanning every room of the namespace. Every socket has a room of its own (its
sid), so each disconnect cost as much as the server held sockets and a mass disconnect was
quadratic: the profile of 2,000 sockets dropping at once spent most of its time in that scan
(docs/performance.md, "Presence after a mass disconnect"). `basic_enter_room` and
`basic_leave_room`, through which python-socketio makes every room change, keep the index and
call up; the rest of `basic_disconnect` is upstream's.

Upstream keeps the sockets still connecting (`pending_connect`) and those disconnecting
(`pending_disconnect`) in a list per namespace, and asks `sid in` that list for every event
(`is_connected`): while thousands of sockets drop at once, each of their disconnects scanned
all the others. The manager's two tables make each namespace's entry an insertion-ordered
dict with the list's `append` and `remove`, so the same upstream code runs in constant time.

Re-check on upgrade: tests/unit/realtime/test_sidrooms.py compares it with upstream's manager;
tests/canary/test_socketio.py holds the upstream methods that use the pending tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import socketio


class PendingSids(dict[str, None]):
    """A namespace's pending socket ids: upstream's list (`append`, `remove`, `in`, `len`,
    in order), each in constant time."""

    def append(self, sid: str) -> None:
        self[sid] = None

    def remove(self, sid: str) -> None:
        try:
            del self[sid]
        except KeyError:
            raise ValueError(f"{sid!r} is not pending") from None


class PendingTable(dict[str, PendingSids]):
    """namespace -> its pending socket ids; upstream assigns a new namespace `[]`, stored as
    `PendingSids`."""

    def __setitem__(self, namespace: str, sids: Iterable[str]) -> None:
        pending = PendingSids()
        for sid in sids:
            pending.append(sid)
        super().__setitem__(namespace, pending)


class IndexedManager(socketio.AsyncManager):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}  # (namespace, sid) -> rooms
        self.pending_connect: PendingTable = PendingTable()
        self.pending_disconnect: PendingTable = PendingTable()

    def basic_enter_room(self, sid: str, namespace: str, room: Any,
                         eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        # Upstream's, unchanged from here on.
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]
