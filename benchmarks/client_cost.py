"""What one load-generator connection costs: memory per connection of the load tool's client
against a `websockets` client doing the same Socket.IO handshake, and CPU per delivery of the
load client's receive path.

    python benchmarks/baseline_server.py --port 8100 &
    python benchmarks/client_cost.py --url http://127.0.0.1:8100 --clients 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import orjson


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_load_clients(url: str, count: int) -> list[Any]:
    from load.client import SioClient

    clients: list[Any] = []
    for _ in range(0, count, 100):
        batch = [SioClient() for _ in range(100)]
        await asyncio.gather(*(c.connect(url, auth={}) for c in batch))
        clients += batch
    return clients


async def open_websockets_clients(url: str, count: int) -> list[Any]:
    import websockets

    target = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"

    async def one() -> Any:
        conn = await websockets.connect(target, compression=None)
        await conn.recv()  # Engine.IO open
        await conn.send("40{}")
        await conn.recv()  # Socket.IO connect ack
        return conn

    clients: list[Any] = []
    for _ in range(0, count, 100):
        clients += await asyncio.gather(*(one() for _ in range(100)))
    return clients


async def memory(kind: str, url: str, count: int) -> None:
    before = rss_kb()
    opener = open_load_clients if kind == "load" else open_websockets_clients
    clients = await opener(url, count)
    await asyncio.sleep(1)
    print(f"{kind:>10}: {len(clients)} connections, "
          f"{(rss_kb() - before) / len(clients):.1f} KB each")


def receive_path(samples: int = 200_000) -> None:
    from load.client import SioClient
    from load.stats import Stats
    from realtime.wire.frames import TEXT, encode_frame

    stats = Stats(0)
    client = SioClient(on_event=lambda c, e, args, ns: stats.delivered(args[0]["ts"], ns))
    client._upgraded = True  # bytes go straight to the frame parser
    body = {"room": "load-0", "ts": time.monotonic_ns(), "seq": 1, "from": -1}
    packet = b'42["broadcast",' + orjson.dumps(body) + b"]"
    frames = encode_frame(TEXT, packet) * 10
    began = time.perf_counter()
    for _ in range(samples // 10):
        client.data_received(frames)
    spent = time.perf_counter() - began
    print(f"receive path: {spent / samples * 1e6:.1f} us of CPU per delivery "
          f"(frame parse, JSON, latency histogram)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8100")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--only", choices=["load", "websockets"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        import uvloop

        uvloop.run(memory(args.only, args.url, args.clients))
        return
    # Each client kind in a fresh process, so one's memory does not hide the other's.
    for kind in ("load", "websockets"):
        subprocess.run([sys.executable, __file__, "--url", args.url, "--clients",
                        str(args.clients), "--only", kind], check=True)
    receive_path()


if __name__ == "__main__":
    main()
