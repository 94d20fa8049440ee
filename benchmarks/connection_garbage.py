"""What a connection leaves in reference cycles when it ends: `roomcast serve` with its cycle
collector off, N clients connected and disconnected by `roomcast load connect`, then one full
collection (asked for with SIGUSR1) counting what it freed. Twice, so the second round shows
the cost per connection once start-up's first-use garbage is gone.

    python benchmarks/connection_garbage.py --clients 1000

roomcast/heap.py compacts its frozen heap on departures because of what this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from servers import ROOT, free_port, process, wait_ready

SERVER = """
import gc, json, signal, sys
out = sys.argv[1]
import roomcast.heap
start = roomcast.heap.HeapKeeper.start
def start_then_stop_collecting(self):
    start(self)
    self.look = lambda: None
    gc.disable()
roomcast.heap.HeapKeeper.start = start_then_stop_collecting
def report(*_):
    with open(out, "a") as f:
        f.write(json.dumps({"collected": gc.collect()}) + "\\n")
signal.signal(signal.SIGUSR1, report)
sys.argv = ["roomcast", "serve", "--host", "127.0.0.1", "--port", sys.argv[2]]
from roomcast.cli import main
main()
"""

ENV = {"ENV": "test", "LOG_LEVEL": "WARNING", "RATE_LIMIT_IP_PER_MINUTE": "1000000",
       "RATE_LIMIT_USER_PER_MINUTE": "1000000"}


def collected(out: Path, pid: int, before: int) -> int:
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) > before:
            return int(json.loads(lines[-1])["collected"])
        time.sleep(0.1)
    raise RuntimeError("the server did not report its collection")


def every_disconnect_seen(url: str) -> None:
    """Wait until the server holds no socket (`roomcast_sockets` on /metrics is 0)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
            if line.startswith("roomcast_sockets ") and float(line.split()[1]) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the server still holds sockets a minute after the clients left")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomcast-garbage-") as tmp:
        work = Path(tmp)
        out, port = work / "collected.jsonl", free_port()
        cmd = [sys.executable, "-c", SERVER, str(out), str(port)]
        with process(cmd, {**ENV, "DATA_DIR": str(work / "data")}, work / "serve.log") as proc:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc)
            collected(out, proc.pid, 0)  # start-up's leftovers
            for n in range(1, args.rounds + 1):
                subprocess.run([sys.executable, "-m", "roomcast.cli", "load", "connect",
                                "--url", url, "--clients", str(args.clients), "--rate", "500",
                                "--duration", f"{args.clients / 500 + 1:g}", "--roomcast",
                                "--register", "1"],
                               cwd=ROOT, capture_output=True, text=True, check=True)
                every_disconnect_seen(url)
                freed = collected(out, proc.pid, n)
                print(f"round {n}: {args.clients} connections opened and closed, "
                      f"{freed:,} objects freed by one full collection "
                      f"({freed / args.clients:.1f} per connection)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
