"""Redis's own time per call of the Lua scripts a rejoin and a message run (realtime/presence.py,
realtime/streams.py), from `INFO commandstats` (`usec` of EVALSHA, the script's own commands
included), against a redis-server this script starts on a free port, with the herd's shape: 500
rooms of 10 connections recorded by another process.

    python benchmarks/redis_scripts.py --count 5000

- take: a rejoin that names the connection it had on another process (`_TAKE`, the place
  taken back, the room's entries answered);
- enter: a connection new to the room (`_ENTER`);
- append: a meeting message (`_APPEND`, 20 entries in each room's stream first);
- since, up to date: a rejoin's history read with nothing missed (`_SINCE`);
- since, two missed: the same with two entries to send.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import orjson
import redis as sync_redis
from redis_client_cost import redis_on_a_free_port
from servers import ROOT

sys.path.insert(0, str(ROOT))

from realtime.presence import _ENTER, _TAKE
from realtime.streams import _APPEND, _SINCE

ROOMS, PER_ROOM, HISTORY = 500, 10, 20


def value(user: str) -> bytes:
    return orjson.dumps({"u": user, "n": f"User {user}", "s": "online"})


def evalsha_usec(client: sync_redis.Redis) -> tuple[int, int]:
    stats: dict[str, Any] = client.info("commandstats")
    found = stats.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    return int(found["calls"]), int(found["usec"])


def per_call(client: sync_redis.Redis, count: int, call: Callable[[int], Any]) -> float:
    calls, usec = evalsha_usec(client)
    for i in range(count):
        call(i)
    after_calls, after_usec = evalsha_usec(client)
    return (after_usec - usec) / max(after_calls - calls, 1)


def measure(port: int, count: int) -> dict[str, float]:
    client = sync_redis.Redis(port=port)
    take, enter = client.register_script(_TAKE.body), client.register_script(_ENTER.body)
    since, append = client.register_script(_SINCE.body), client.register_script(_APPEND.body)
    client.sadd("procs:", "A", "B")
    for room in range(ROOMS):
        for j in range(PER_ROOM):
            client.hset(f"pres:{room}", f"A/sid{room}-{j}", value(f"u{room}-{j}"))
            client.hincrby(f"presc:{room}", f"u{room}-{j}", 1)
    found: dict[str, float] = {}

    def taken(i: int) -> Any:
        room, user = i % ROOMS, f"u{i % ROOMS}-{(i // ROOMS) % PER_ROOM}"
        return take(keys=[f"pres:{room}", f"presc:{room}", "conns:B", "procs:"],
                    args=[f"B/new{i}", value(user), user, f"{room}\tnew{i}",
                          f"sid{room}-{(i // ROOMS) % PER_ROOM}", "B"])

    found["take"] = per_call(client, count, taken)
    found["enter"] = per_call(client, count, lambda i: enter(
        keys=[f"pres:{i % ROOMS}", f"presc:{i % ROOMS}", "conns:B"],
        args=[f"B/e{i}", value(f"v{i}"), f"v{i}", f"{i % ROOMS}\te{i}"]))

    def appended(i: int) -> Any:
        room = i % ROOMS
        return append(keys=[f"off:{room}", f"stream:{room}", f"r:{room}", f"epoch:{room}"],
                      args=[1000, 3600, '2["meeting:message",{"room":"m","offset":',
                            ',"text":"hello there"}]', "1.0", "e0"])

    for i in range(ROOMS * HISTORY):
        appended(i)
    found["append"] = per_call(client, count, appended)

    def read(i: int, missed: int) -> Any:
        room = i % ROOMS
        offset = int(client.get(f"off:{room}") or 0)
        return since(keys=[f"off:{room}", f"epoch:{room}", f"stream:{room}"],
                     args=["e1", offset - missed, "e0"])

    found["since, up to date"] = per_call(client, count, lambda i: read(i, 0))
    found["since, two missed"] = per_call(client, count, lambda i: read(i, 2))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="calls of each script")
    count = parser.parse_args().count
    with redis_on_a_free_port() as port:
        lines = [f"{name:24} {usec:8.1f}" for name, usec in measure(port, count).items()]
    print("\n".join([f"{'script':24} Redis µs per call", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
