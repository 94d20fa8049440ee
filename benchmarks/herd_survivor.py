"""The surviving process's side of `benchmarks/run.py`'s two-process reconnect herd: what the
crowd of reconnects and rejoins costs it.

    python benchmarks/herd_survivor.py --name after
    git archive COMMIT | tar -x -C /tmp/before && ln -s "$PWD/.venv" /tmp/before/.venv
    python benchmarks/herd_survivor.py --tree /tmp/before --name before
    python benchmarks/herd_survivor.py --name after --spy   # and a py-spy profile

It runs `benchmarks/run.py --only two --scenario herd` from `--tree` (this checkout by default)
and, from the moment one of the two servers is killed until the load tool exits, samples the
survivor's CPU time (/proc, user + system, and the system part on its own) and counts the
commands Redis ran and the time it spent in each (`INFO commandstats`, scripts' own calls
included) and the reads and writes it did on its connections (`INFO stats`). It prints the
herd's figures, the survivor's CPU until the last client was back (and the system part of it),
the load tool's CPU over the same time (on a core of its own: far below that time, the clients'
side did not hold them up) and Redis's (on the survivor's core, as the servers are), the
survivor's share of a core once all were back with the room traffic still flowing and what is
left per client once that share is taken off, its read and write system calls (`/proc/PID/io`)
until then per client that came back, and Redis's reads, writes, commands and time in each
command per client that came back. The 0.1 s CPU samples go to `<out>/<name>.samples.json`.
With `--spy`, py-spy records the survivor as collapsed stacks in `<out>/<name>.txt` (`--gil`:
a sample is taken while the interpreter holds the GIL, which includes time the process waits
for its core, as while Redis runs on it; shares of the samples, not CPU seconds). With
`--redis-cpu 1`, an experiment, Redis is moved to the load tool's CPU at the blow, away from the
survivor's.

With `--restart` it runs the one-process herd (`--only one`) and watches the restarted process
instead, from its exec: its CPU until the last client was back includes its start-up. With
`--take-over` as well, the process is restarted with `roomcast serve --take-over`
(`--only takeover`), and the new process is watched from the old one's exit: what it did
before, while the old one still served (its imports), is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from servers import cpu_times

ROOT = Path(__file__).resolve().parent.parent


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        direct = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, direct):
        found += [child, *children(child)]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def calls(pid: int) -> tuple[int, int]:
    """A process's read and write system calls so far (/proc/PID/io: `syscr`, `syscw`)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def cpu(pid: int) -> tuple[float, float]:
    """A process's CPU seconds so far: user and system together, and system alone."""
    user, system = cpu_times(pid)
    return user + system, system


def commandstats(port: str) -> dict[str, int]:
    """The commands Redis ran so far by name, and, as `reads processed` and `writes
    processed`, the reads and writes it did on its clients' connections (`INFO stats`): a
    read per batch of commands a client wrote, a write per batch of replies and pushes, and
    as `usec NAME` the microseconds Redis spent in each command."""
    out = subprocess.run(["redis-cli", "-p", port, "info", "all"],
                         capture_output=True, text=True, check=True).stdout
    stats: dict[str, int] = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            fields = dict(field.split("=") for field in rest.split(","))
            stats[name.removeprefix("cmdstat_")] = int(fields["calls"])
            stats[f"usec {name.removeprefix('cmdstat_')}"] = int(fields["usec"])
        elif line.startswith(("total_reads_processed:", "total_writes_processed:")):
            name, _, value = line.partition(":")
            stats[name.removeprefix("total_").replace("_", " ")] = int(value)
    return stats


def servers_of(run: subprocess.Popen[bytes], marker: str) -> list[int]:
    return [p for p in children(run.pid) if marker in cmdline(p) and "taskset" not in cmdline(p)]


def struck(run: subprocess.Popen[bytes], restart: bool) -> int:
    """Wait for the blow; return the process that serves the herd after it: the survivor of
    two, or the restarted one."""
    marker = "roomcast.cli serve" if restart else "seeded_serve"
    servers: list[int] = []
    while len(servers) < (1 if restart else 2):
        servers = servers_of(run, marker)
        running(run, 0.2)
    while all(alive(p) for p in servers):
        running(run, 0.02)
    if not restart:
        return next(p for p in servers if alive(p))
    while not (started := [p for p in servers_of(run, marker) if p not in servers]):
        running(run, 0.005)
    return started[0]


def running(run: subprocess.Popen[bytes], pause: float) -> None:
    """Wait `pause` seconds; the benchmark ending first (it failed) ends this one."""
    time.sleep(pause)
    if run.poll() is not None:
        raise SystemExit(f"benchmarks/run.py ended (status {run.returncode}) before the herd's "
                         "blow was seen")


def watch(run: subprocess.Popen[bytes], spy: Path | None, restart: bool,
          rate: int = 100, redis_cpu: int | None = None) -> dict[str, Any]:
    survivor = struck(run, restart)
    began = time.monotonic()
    tree = children(run.pid)
    loader = next(p for p in tree
                  if "roomcast.cli load" in cmdline(p) and "taskset" not in cmdline(p))
    # redis-server names itself `redis-server 127.0.0.1:PORT` (none with one process).
    redis_pid, port = next(((p, cmdline(p).split(":")[1].split()[0]) for p in tree
                            if cmdline(p).startswith("redis-server 127.0.0.1:")), (None, None))
    if redis_pid and redis_cpu is not None:
        # Moved at the blow, before the first client is back.
        subprocess.run(["taskset", "-cp", str(redis_cpu), str(redis_pid)], check=True,
                       capture_output=True)
    redis_start = cpu(redis_pid)[0] if redis_pid else 0.0
    start_cpu = cpu(survivor)
    start_stats = commandstats(port) if port else {}
    profiler = None
    if spy is not None:
        profiler = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(survivor),
             "-r", str(rate), "--gil", "-f", "raw", "-o", str(spy)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start_calls = calls(survivor)
    loader_start = cpu(loader)[0]
    samples: list[tuple[float, float, float, int, int, float, float]] = []
    while alive(loader) and alive(survivor):
        (used, system), (reads, writes) = cpu(survivor), calls(survivor)
        samples.append((time.monotonic() - began, used - start_cpu[0], system - start_cpu[1],
                        reads - start_calls[0], writes - start_calls[1],
                        cpu(loader)[0] - loader_start,
                        cpu(redis_pid)[0] - redis_start if redis_pid else 0.0))
        time.sleep(0.1)
    stats = commandstats(port) if port else {}
    if profiler is not None:
        profiler.send_signal(2)
        profiler.wait()
    ran = {k: n - start_stats.get(k, 0) for k, n in stats.items() if n != start_stats.get(k, 0)}
    return {"cpu": samples, "redis": ran, "with_redis": redis_pid is not None}


def steady_share(samples: list[tuple[float, ...]], all_back: float) -> float | None:
    """The median share of a core over the 0.1 s samples of the half second that began 0.1 s
    after the last client was back (None if the run ended before it)."""
    window = [sample for sample in samples if all_back + 0.1 <= sample[0] <= all_back + 0.6]
    shares = sorted((b[1] - a[1]) / (b[0] - a[0]) for a, b in pairwise(window)
                    if b[0] > a[0])
    return shares[len(shares) // 2] if shares else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/herd-survivor"))
    parser.add_argument("--herd-clients", type=int, default=5000)
    parser.add_argument("--spy", action="store_true")
    parser.add_argument("--spy-rate", type=int, default=100,
                        help="py-spy's samples per second (with --spy)")
    parser.add_argument("--take-over", action="store_true",
                        help="with --restart: restarted with `roomcast serve --take-over`")
    parser.add_argument("--redis-cpu", type=int, metavar="CPU",
                        help="an experiment: move Redis to this CPU at the blow (1: the load "
                             "tool's, away from the servers' CPU 0)")
    parser.add_argument("--restart", action="store_true",
                        help="the one-process herd instead: the restarted process, from its "
                             "start (its CPU includes its start-up)")
    args = parser.parse_args()
    if args.redis_cpu is not None and args.restart:
        parser.error("--redis-cpu moves the two-process herd's Redis; one process has none")
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    results = args.out / f"{args.name}.md"
    run = subprocess.Popen(
        [sys.executable, "benchmarks/run.py", "--only",
         ("takeover" if args.take_over else "one") if args.restart else "two",
         "--scenario", "herd",
         "--herd-clients", str(args.herd_clients), "--out", str(results)],
        cwd=args.tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = watch(run, args.out / f"{args.name}.txt" if args.spy else None, args.restart,
                    args.spy_rate, args.redis_cpu)
    run.wait()
    # The samples themselves, for a plot of CPU against time: seconds since the blow, CPU
    # seconds (all, system), read and write system calls, the load tool's and Redis's CPU
    # seconds.
    (args.out / f"{args.name}.samples.json").write_text(json.dumps(watched["cpu"]))
    rows = json.loads(results.with_suffix(".json").read_text())["rows"]
    herd = next(r for r in rows if r.get("scenario") == "herd")["report"]["herd"]
    until = [sample[1:] for sample in watched["cpu"] if sample[0] <= herd["all_back_s"]]
    back = max(herd["back"], 1)
    redis = dict(watched["redis"])
    steady = steady_share(watched["cpu"], herd["all_back_s"])
    print(json.dumps({
        "name": args.name, "all_back_s": herd["all_back_s"], "spread_s": herd["spread_s"],
        "attempt_p50_ms": herd["attempt_ms"]["p50"], "attempt_p99_ms": herd["attempt_ms"]["p99"],
        "missed": herd["missed"], "back": herd["back"],
        "survivor_cpu_s_until_all_back": round(until[-1][0], 2) if until else None,
        "of_which_system_s": round(until[-1][1], 2) if until else None,
        # The load tool's own CPU over the same time (it has a core of its own): near the
        # seconds until all were back, the clients' side was what they waited for.
        "load_tool_cpu_s_until_all_back": round(until[-1][4], 2) if until else None,
        # Redis's CPU over the same time: on the survivor's core unless --redis-cpu moved it
        # (none with one process).
        "redis_cpu_s_until_all_back": (round(until[-1][5], 2)
                                       if until and watched["with_redis"] else None),
        # The share of a core the watched process used once all were back, with the herd's
        # messages still flowing (the median of its 0.1 s samples over the next half second,
        # before the load tool's own end disconnects them all), and
        # what is left per client back once that share is taken off the time until then: a
        # floor of what a returning client costs beyond the room traffic (the messages cost
        # less while the core is full than that share after: docs/performance.md, "Plain
        # python-socketio in the herd").
        "steady_cpu_share_after": None if steady is None else round(steady, 2),
        "herd_cpu_ms_per_client_back": None if steady is None or not until else round(
            (until[-1][0] - steady * herd["all_back_s"]) / back * 1000, 2),
        "read_calls_per_client_back": round(until[-1][2] / back, 1) if until else None,
        "write_calls_per_client_back": round(until[-1][3] / back, 1) if until else None,
        # Redis's reads on its connections: one per batch of commands a process wrote.
        "redis_reads_per_client_back": round(redis.pop("reads processed", 0) / back, 2),
        "redis_writes_per_client_back": round(redis.pop("writes processed", 0) / back, 2),
        # What the commands took in Redis, in microseconds per client back, by command.
        "redis_usec_per_client_back": {k.removeprefix("usec "): round(redis.pop(k) / back, 1)
                                       for k in sorted(redis) if k.startswith("usec ")},
        "redis_commands_per_client_back": {k: round(n / back, 2)
                                           for k, n in sorted(redis.items())},
        "load_average": [load_before, os.getloadavg()]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
