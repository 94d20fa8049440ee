"""Pauses of the cycle collector in `roomcast serve` under `roomcast load rooms`: every
collection longer than 2 ms, with the objects it had to walk, with and without the start-up
heap frozen (roomcast/serve.py).

    python benchmarks/gc_pauses.py --clients 1000 --rate 5 --duration 10
    python benchmarks/gc_pauses.py --clients 1000 --rate 5 --duration 10 --no-freeze

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

# Runs inside the server process: records collections, then starts `roomcast serve`.
SERVER = """
import gc, json, sys, time
out, freeze = sys.argv[1], sys.argv[2] == "1"
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
import roomcast.serve
if not freeze:
    async def keep_heap():
        return None
    roomcast.serve._freeze_startup_heap = keep_heap
sys.argv = ["roomcast", "serve", "--host", "127.0.0.1", "--port", sys.argv[3]]
from roomcast.cli import main
main()
"""

ENV = {"ENV": "test", "LOG_LEVEL": "WARNING", "SOCKET_EVENTS_PER_SECOND": "100000",
       "SOCKET_EVENT_BURST": "100000", "RATE_LIMIT_IP_PER_MINUTE": "1000000",
       "RATE_LIMIT_USER_PER_MINUTE": "1000000"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--no-freeze", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomcast-gc-") as tmp:
        work = Path(tmp)
        pauses, port = work / "pauses.jsonl", free_port()
        cmd = [*pinned(0), sys.executable, "-c", SERVER, str(pauses),
               "0" if args.no_freeze else "1", str(port)]
        with process(cmd, {**ENV, "DATA_DIR": str(work / "data")}, work / "serve.log") as proc:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc)
            time.sleep(1)
            pauses.write_text("")  # only what happens under load
            load = subprocess.run(
                [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", "rooms", "--url", url,
                 "--clients", str(args.clients), "--rate", f"{args.rate:g}", "--duration",
                 f"{args.duration:g}", "--room-size", "10", "--register", "1"],
                cwd=ROOT, capture_output=True, text=True, env={**os.environ})
        print("\n".join(line for line in load.stdout.splitlines()
                        if line.startswith(("latency", "connect ", "delivery "))))
        found = [json.loads(line) for line in pauses.read_text().splitlines() if line]
        heap = "no freeze" if args.no_freeze else "start-up heap frozen"
        print(f"collections over 2 ms ({heap}):")
        for pause in found:
            print(f"  generation {pause['generation']}: {pause['ms']:6.1f} ms, "
                  f"{pause['tracked']:,} objects tracked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
