"""Server CPU per delivery on the fan-out path, and a py-spy profile of it, for Roomcast in one
process and plain python-socketio (benchmarks/baseline_server.py) in the same run.

    python benchmarks/profile_fanout.py --clients 1000 --rate 5 --duration 20 --out /tmp/fanout
    # and an older Roomcast in the same run, to measure a change before and after:
    git archive COMMIT | tar -x -C /tmp/before
    python benchmarks/profile_fanout.py --before-tree /tmp/before --out /tmp/fanout

For each server: it starts it pinned to CPU 0, runs `roomcast load fanout` pinned to CPU 1 with
`--progress`, and reads the server's CPU time (/proc/PID/stat, user + system) at every progress
line. CPU per delivery is the server CPU spent between the first progress line of the measured
window (one second after the first delivery) and the last line before the drain, divided by the
deliveries counted in between: connection setup and joins are left out. A second run of the same
load is recorded by py-spy (non-blocking, so the server is not paused), over the measured window
only, as collapsed stacks (`<name>.txt`, one stack per line: any flame graph tool
draws them); the top frames by own and by inclusive share are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from servers import ROOT, cpu_times, free_port, pinned, process, wait_ready

# The fan-out is measured, not the limiter: a load generator sends far more than a person.
ROOMCAST_ENV = {
    "ENV": "test", "LOG_LEVEL": "WARNING",
    "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000",
}
PROGRESS = re.compile(r"published\s+(\d+)\s+delivered\s+(\d+)")
def run_load(url: str, roomcast: bool, pid: int, args: argparse.Namespace,
             profile: Path | None) -> dict[str, Any]:
    cmd = [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", args.scenario, "--url", url,
           "--clients", str(args.clients), "--rate", str(args.rate),
           "--duration", str(args.duration), "--progress"]
    cmd += ["--room-size", str(args.room_size)] if args.scenario == "rooms" else []
    cmd += ["--register", "1"] if roomcast else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    # wall, published, delivered, server (user, system) CPU
    samples: list[tuple[float, int, int, tuple[float, float]]] = []
    spy: subprocess.Popen[bytes] | None = None
    started: float | None = None
    assert proc.stderr is not None
    buf = b""
    while True:
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        *lines, buf = re.split(rb"[\r\n]", buf)
        for line in lines:
            found = PROGRESS.search(line.decode(errors="replace"))
            if not found:
                continue
            now = time.monotonic()
            published, delivered = int(found[1]), int(found[2])
            samples.append((now, published, delivered, cpu_times(pid)))
            if delivered and started is None:
                started = now
                if profile is not None:
                    spy = subprocess.Popen(
                        ["py-spy", "record", "--pid", str(pid), "--nonblocking",
                         "--rate", "250", "--duration", str(int(args.duration - 2)),
                         "--format", "raw", "--output", str(profile)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = proc.communicate()[0].decode()
    if spy is not None:
        spy.wait(60)
    return {"table": out, "samples": samples, "window": window(samples, args.duration)}


def window(samples: list[tuple[float, int, int, tuple[float, float]]],
           duration: float) -> dict[str, float]:
    """CPU per delivery in the steady part of the measured window."""
    first = next(i for i, s in enumerate(samples) if s[2] > 0)
    begin = samples[first][0] + 1.0
    end = samples[first][0] + duration - 0.5
    inside = [s for s in samples if begin <= s[0] <= end]
    a, b = inside[0], inside[-1]
    deliveries = b[2] - a[2]
    user, system = b[3][0] - a[3][0], b[3][1] - a[3][1]
    cpu = user + system

    def each(seconds: float) -> float:
        return round(seconds / deliveries * 1e6, 1) if deliveries else 0.0

    return {"seconds": round(b[0] - a[0], 2), "deliveries": deliveries,
            "server_cpu_s": round(cpu, 3),
            "cpu_share": round(cpu / (b[0] - a[0]), 3),
            "us_per_delivery": each(cpu),
            # In the kernel: mostly the socket writes (on loopback a write also runs the
            # receiving side's TCP processing).
            "user_us_per_delivery": each(user), "system_us_per_delivery": each(system)}


def top_frames(raw: Path, limit: int = 25) -> list[tuple[str, float, float]]:
    """(frame, self share, inclusive share) over all samples of the collapsed stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [re.sub(r"\s*\(.*?/(site-packages|lib/python3\.\d+)/", " (", f)
                  for f in stack.split(";")]
        frames = [re.sub(r":\d+\)$", ")", f) for f in frames]
        samples += n
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    by_self = [(f, own[f] / samples, total[f] / samples) for f, _ in own.most_common(limit)]
    by_incl = [(f, own[f] / samples, total[f] / samples) for f, _ in total.most_common(limit)]
    return [*by_self, ("--- by inclusive share ---", 0.0, 0.0), *by_incl]


# Where a sample's time goes, first match wins (by frame names in its stack).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("socket write (transport.write, the send syscall)",
     ("_SelectorSocketTransport.write", "UVStream.write")),
    ("per-socket writer task (Engine.IO queue and writer, ASGI send, uvicorn framing)",
     ("_websocket_handler.<locals>.writer", "AsyncSocket.poll", "WebSocket.send",
      "WebSocketsSansIOProtocol.send")),
    ("emit: a task per recipient (python-socketio's manager)",
     ("AsyncManager.emit", "AsyncServer._send_eio_packet")),
    ("fan-out loop (LocalFanout.deliver, direct writes)", ("LocalFanout.", "DirectWrites.")),
    ("publisher's event in (dispatch, handler, store)",
     ("AsyncServer._handle_event_internal", "Connections.dispatch", "AsyncSocket.receive")),
    ("waiting in epoll", ("EpollSelector.select",)),
]
OTHER = "event loop: waking tasks, callbacks, timers, the rest"


def buckets(raw: Path, table: list[tuple[str, tuple[str, ...]]] | None = None,
            other: str = OTHER) -> dict[str, float]:
    """Each bucket's share of the samples (`table`: BUCKETS unless given)."""
    table = BUCKETS if table is None else table
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        name = next((label for label, keys in table if any(k in stack for k in keys)), other)
        counts[name] += int(count)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name in [*(b for b, _ in table), other]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["fanout", "rooms"], default="fanout",
                        help="fanout: one publisher into one room; rooms: rooms of --room-size "
                             "where every client talks at --rate")
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--out", type=Path, default=Path("fanout-profile"))
    parser.add_argument("--only", choices=["roomcast", "before", "baseline"], action="append")
    parser.add_argument("--before-tree", type=Path,
                        help="also measure Roomcast from this source tree, e.g. an older commit "
                             "unpacked with `git archive COMMIT | tar -x -C DIR`")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    if shutil.which("py-spy") is None and not args.no_profile:
        os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    names = ["roomcast", "before", "baseline"] if args.before_tree else ["roomcast", "baseline"]
    for name in [n for n in names if not args.only or n in args.only]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        tree = args.before_tree.resolve() if name == "before" else ROOT
        env: dict[str, str] = {}
        if name == "baseline":
            cmd = [*pinned(0), sys.executable, str(ROOT / "benchmarks" / "baseline_server.py"),
                   "--port", str(port)]
        else:
            cmd = [*pinned(0), sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
            env = {**ROOMCAST_ENV, "DATA_DIR": str(args.out / f"data-{name}"),
                   "PYTHONPATH": str(tree)}
        with process(cmd, env, args.out / f"{name}.log", cwd=tree) as proc:
            wait_ready(url, proc)
            measured = run_load(url, name != "baseline", proc.pid, args, None)
            results[name] = {"window": measured["window"], "table": measured["table"]}
            print(f"== {name}: {measured['window']}\n{measured['table']}", flush=True)
            if not args.no_profile:
                raw = args.out / f"{name}.txt"
                profiled = run_load(url, name != "baseline", proc.pid, args, raw)
                results[name]["profiled_window"] = profiled["window"]
                results[name]["top"] = top_frames(raw)
                results[name]["buckets"] = buckets(raw)
                us = measured["window"]["us_per_delivery"]
                for label, share in results[name]["buckets"].items():
                    print(f"{share:6.1%} {share * us:6.1f} us  {label}")
                print(f"-- {name} under py-spy: {profiled['window']}")
                for frame, own, incl in results[name]["top"]:
                    print(f"{own:6.1%} {incl:6.1%}  {frame}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
