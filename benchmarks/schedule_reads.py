"""What one read of the Redis schedule source costs (what every scheduler does every
SCHEDULER_REFRESH_SECONDS) as Redis holds more keys of other kinds (presence, room streams,
sessions): taskiq-redis' `ListRedisScheduleSource` as it comes, which finds past minutes'
schedules with a SCAN of the keyspace, against Roomcast's (workers/schedule/redis_source.py),
which reads them from its index of minutes. Both read the same schedules (a few past, one due
now, some later) from one redis-server this script starts on a free port.

    python benchmarks/schedule_reads.py --keys 0 --keys 20000 --keys 200000

Per read: the wall time, this process's CPU (time.process_time, so the redis-server's own
work is not in it), the redis-server's CPU (from its INFO) and the SCAN calls it ran.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import redis as sync_redis
import uvloop
from redis_client_cost import redis_on_a_free_port
from servers import ROOT

sys.path.insert(0, str(ROOT))

from taskiq import ScheduledTask, ScheduleSource
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource

from realtime.wire import schedule_keys
from workers.schedule.redis_source import QuietRedisScheduleSource


def schedules() -> list[ScheduledTask]:
    now = datetime.now(UTC)
    return [ScheduledTask(task_name="roomcast.people.reminder", labels={}, args=[n], kwargs={},
                          schedule_id=f"s{n}", time=now + timedelta(minutes=minutes))
            for n, minutes in enumerate([-30, -5, -2, 0, 10, 60, 600])]


def server_cpu(client: sync_redis.Redis) -> tuple[float, int]:
    info = client.info("cpu")
    scans = client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"]), int(scans)


async def measure(source: ScheduleSource, client: sync_redis.Redis,
                  reads: int) -> tuple[float, float, float, float, int]:
    await source.startup()
    found = len(await source.get_schedules())  # a first read (Roomcast's indexes old keys)
    redis_before, scans_before = server_cpu(client)
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(reads):
        await source.get_schedules()
    wall = (time.perf_counter() - began) / reads
    spent = (time.process_time() - cpu) / reads
    redis_after, scans_after = server_cpu(client)
    await source.shutdown()
    return (wall, spent, (redis_after - redis_before) / reads,
            (scans_after - scans_before) / reads, found)


async def one_size(port: int, keys: int, reads: int) -> None:
    client = sync_redis.Redis(port=port)
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for n in range(keys):
        pipe.set(f"roomcast:other:{n}", b"x")
        if n % 10000 == 9999:
            pipe.execute()
    pipe.execute()
    url = f"redis://127.0.0.1:{port}/0"
    plain = ListRedisScheduleSource(url, prefix="roomcast:plain", serializer=JSONSerializer())
    ours = QuietRedisScheduleSource(url, prefix="roomcast:schedule", serializer=JSONSerializer(),
                                    keys=schedule_keys)
    for item in schedules():
        await plain.add_schedule(item)
        await ours.add_schedule(item)
    for name, source in (("taskiq-redis as it comes", plain), ("Roomcast (index)", ours)):
        wall, cpu, redis_cpu, scans, found = await measure(source, client, reads)
        print(f"| {keys:>9,} | {name:26} | {found} | {wall * 1000:9.2f} | {cpu * 1000:9.2f} | "
              f"{redis_cpu * 1000:9.2f} | {scans:7.1f} |")
    await plain._connection_pool.disconnect()
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, action="append",
                        help="other keys in Redis (repeat for several sizes)")
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    with redis_on_a_free_port() as port:
        print("| other keys | source | schedules found | ms per read | client CPU ms | "
              "Redis CPU ms | SCAN calls |")
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        for keys in args.keys or [0, 20000, 200000]:
            uvloop.run(one_size(port, keys, args.reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
