"""Pauses of the cycle collector in `roomcast serve` under `roomcast load rooms` or a connect
storm: every collection longer than 2 ms, with the objects it had to walk, with the heap kept
as `serve` keeps it (roomcast/heap.py), with only start-up's heap frozen, or with nothing
frozen.

    python benchmarks/gc_pauses.py --clients 1000 --rate 5 --duration 10 [--heap none]
    python benchmarks/gc_pauses.py --scenario connect --clients 5000 --rate 500 --duration 12 \\
        [--heap startup] [--load-heap none]
    python benchmarks/gc_pauses.py --scenario recovery --clients 5000 --rate 10 \\
        --drop-rate 200 --duration 60 [--heap every-quarter]

The load tool's own collections over 2 ms are listed too (`--load-heap none`: without
load/heap.py).

The server runs pinned to CPU 0 and the load tool to CPU 1, as in benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from servers import ROOT, free_port, pinned, process, wait_ready

# Records every collection over 2 ms of the process it runs in, to the file sys.argv[1].
RECORD = """
import gc, json, sys, time
out = sys.argv[1]
started = {}
def record(phase, info):
    if phase == "start":
        started["at"] = time.perf_counter()
        return
    took = time.perf_counter() - started["at"]
    if took > 0.002:
        with open(out, "a") as f:
            f.write(json.dumps({"generation": info["generation"], "ms": round(took * 1e3, 1),
                                "tracked": len(gc.get_objects())}) + "\\n")
gc.callbacks.append(record)
"""

# Runs inside the server process: records collections, then starts `roomcast serve`.
SERVER = RECORD + """
heap = sys.argv[2]
import roomcast.heap
if heap == "every-quarter":  # churn compactions without the back-off
    roomcast.heap.HeapPolicy.next_share = lambda self, share, **_: self.churn_share
elif heap != "kept":  # only start-up's heap frozen, as before roomcast/heap.py kept watching
    roomcast.heap.HeapKeeper.look = lambda self: None
if heap == "none":
    roomcast.heap.HeapKeeper.start = lambda self: None
sys.argv = ["roomcast", "serve", "--host", "127.0.0.1", "--port", sys.argv[3]]
from roomcast.cli import main
main()
"""

# Runs the load tool (sys.argv[3:]) recording its own collections; with sys.argv[2] "none",
# without load/heap.py freezing its survivors.
LOAD = RECORD + """
if sys.argv[2] == "none":
    import contextlib, load.runner
    load.runner.frozen_survivors = contextlib.nullcontext  # an async context manager too
sys.argv = ["roomcast", *sys.argv[3:]]
from roomcast.cli import main
main()
"""

HEAPS = {"kept": "survivors of each full collection frozen",
         "every-quarter": "survivors frozen, a compaction whenever a quarter has left",
         "startup": "start-up heap frozen", "none": "nothing frozen"}

ENV = {"ENV": "test", "LOG_LEVEL": "WARNING", "SOCKET_EVENTS_PER_SECOND": "100000",
       "SOCKET_EVENT_BURST": "100000", "RATE_LIMIT_IP_PER_MINUTE": "1000000",
       "RATE_LIMIT_USER_PER_MINUTE": "1000000"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--heap", choices=list(HEAPS), default="kept",
                        help="kept: what `serve` does (roomcast/heap.py); startup: only "
                             "start-up's heap frozen; none: nothing frozen")
    parser.add_argument("--load-heap", choices=["kept", "none"], default="kept",
                        help="kept: the load tool freezes its survivors while it runs "
                             "(load/heap.py); none: it does not")
    parser.add_argument("--scenario", choices=["rooms", "connect", "recovery"],
                        default="rooms",
                        help="connect: a storm of --clients at --rate a second, then held; "
                             "recovery: --clients listeners, --drop-rate of them dropped and "
                             "reconnected a second, --rate messages a second")
    parser.add_argument("--drop-rate", type=float, default=100.0,
                        help="recovery: listeners dropped (and reconnected) per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomcast-gc-") as tmp:
        work = Path(tmp)
        pauses, port = work / "pauses.jsonl", free_port()
        load_pauses = work / "load-pauses.jsonl"
        cmd = [*pinned(0), sys.executable, "-c", SERVER, str(pauses),
               args.heap, str(port)]
        with process(cmd, {**ENV, "DATA_DIR": str(work / "data")}, work / "serve.log") as proc:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc)
            time.sleep(1)
            pauses.write_text("")  # only what happens under load
            shape = {"rooms": ["--room-size", "10", "--register", "1"],
                     "connect": ["--roomcast", "--register", "1"],
                     "recovery": ["--roomcast", "--register", "1",
                                  "--drop-rate", f"{args.drop_rate:g}"]}[args.scenario]
            load = subprocess.run(
                [*pinned(1), sys.executable, "-c", LOAD, str(load_pauses), args.load_heap,
                 "load", args.scenario,
                 "--url", url, "--clients", str(args.clients), "--rate", f"{args.rate:g}",
                 "--duration", f"{args.duration:g}", *shape],
                cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        print("\n".join(line for line in load.stdout.splitlines()
                        if line.startswith(("latency", "connect ", "delivery ", "recovery"))))
        load_heap = "survivors frozen" if args.load_heap == "kept" else "nothing frozen"
        for title, path in ((f"server, {HEAPS[args.heap]}", pauses),
                            (f"load tool, {load_heap}", load_pauses)):
            found = ([json.loads(line) for line in path.read_text().splitlines() if line]
                     if path.exists() else [])
            print(f"collections over 2 ms ({title}):")
            for pause in found:
                print(f"  generation {pause['generation']}: {pause['ms']:6.1f} ms, "
                      f"{pause['tracked']:,} objects tracked")
            full = [pause["ms"] for pause in found if pause["generation"] == 2]
            print(f"  full collections over 2 ms: {len(full)}, {sum(full):.1f} ms in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
