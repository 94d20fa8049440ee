"""The indexed room manager keeps exactly the rooms python-socketio's own manager keeps, through
connects, joins, leaves, closed rooms and disconnects (the canary for a python-socketio upgrade:
realtime/wire/socketio_manager.py replaces its disconnect)."""

from __future__ import annotations

import random
from typing import Any

import socketio

from realtime.wire.socketio_manager import IndexedManager

NS = "/"


class _Ids:
    """The part of a server a manager asks for: new socket ids, the same run for both."""

    packet_class = socketio.packet.Packet

    def __init__(self) -> None:
        self.eio = self
        self._n = 0

    def generate_id(self) -> str:
        self._n += 1
        return f"s{self._n}"


def state(manager: Any) -> tuple[Any, ...]:
    rooms = {room: dict(members) for room, members in manager.rooms.get(NS, {}).items()}
    pending = [{ns: list(sids) for ns, sids in table.items()}
               for table in (manager.pending_connect, manager.pending_disconnect)]
    return rooms, dict(manager.callbacks), *pending


async def test_the_index_agrees_with_upstream_through_random_changes() -> None:
    upstream, indexed = socketio.AsyncManager(), IndexedManager()
    upstream.set_server(_Ids())
    indexed.set_server(_Ids())
    rng = random.Random(7)
    sids: list[str] = []
    # Sockets still connecting (pre_connect without connect) and still disconnecting
    # (pre_disconnect without disconnect) sit in the pending tables, in order.
    connecting: list[str] = []
    leaving: list[str] = []
    for step in range(3000):
        op = rng.choice(["connect", "enter", "enter", "leave", "close", "disconnect",
                         "pre_connect", "finish_connect", "pre_disconnect"])
        for manager in (upstream, indexed):
            rng_state = rng.getstate()
            if op == "connect":
                sid = await manager.connect(f"e{step}", NS)
            elif op == "pre_connect":
                sid = await manager.pre_connect(f"e{step}", NS)
            elif connecting and op == "finish_connect":
                joining = rng.choice(connecting)
                await manager.connect(joining, NS)
            elif op == "pre_disconnect" and len(sids) > len(leaving):
                going = rng.choice([s for s in sids if s not in leaving])
                manager.pre_disconnect(going, NS)
            elif sids and op == "enter":
                await manager.enter_room(rng.choice(sids), NS, f"room{rng.randrange(20)}")
            elif sids and op == "leave":
                await manager.leave_room(rng.choice(sids), NS, f"room{rng.randrange(20)}")
            elif sids and op == "close":
                await manager.close_room(f"room{rng.randrange(20)}", NS)
            elif sids and op == "disconnect":
                victim = rng.choice(sids)
                if victim not in leaving:  # as the server does: only a connected one
                    manager.pre_disconnect(victim, NS)
                await manager.disconnect(victim, NS)
            if manager is upstream:
                rng.setstate(rng_state)  # the indexed manager gets the same choices
        if op == "connect":
            sids.append(sid)
        elif op == "pre_connect":
            sids.append(sid)
            connecting.append(sid)
        elif op == "finish_connect" and connecting:
            connecting.remove(joining)
        elif op == "pre_disconnect" and len(sids) > len(leaving):
            leaving.append(going)
        elif op == "disconnect" and sids:
            sids.remove(victim)
            for pending in (connecting, leaving):
                if victim in pending:
                    pending.remove(victim)
        assert state(indexed) == state(upstream), step
        if sids:
            probe = rng.choice(sids)
            assert sorted(map(str, indexed.get_rooms(probe, NS))) == sorted(
                map(str, upstream.get_rooms(probe, NS)))
            assert indexed.is_connected(probe, NS) == upstream.is_connected(probe, NS)
            assert indexed.is_pre_connected(probe, NS) == upstream.is_pre_connected(probe, NS)
    assert indexed._rooms_of.keys() == {(NS, sid) for sid in sids}
    assert connecting and leaving  # the run left sockets in both pending tables
