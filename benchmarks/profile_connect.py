"""Server CPU per connection in a connect storm, and a py-spy profile of where it goes, for
Roomcast in one process and Node's socket.io (benchmarks/node/server.js) in the same run.

    python benchmarks/profile_connect.py --clients 5000 --rate 500 --out /tmp/connect
    # and an older Roomcast in the same run, to measure a change before and after:
    git archive COMMIT | tar -x -C /tmp/before
    python benchmarks/profile_connect.py --before-tree /tmp/before --out /tmp/connect

For each server: it starts it pinned to CPU 0, signs a user in over REST (Roomcast), and runs
`roomcast load connect` pinned to CPU 1 with that token. CPU per connection is the server's
CPU time (/proc/PID/stat, user + system) over the storm, from the load tool's start to its end,
divided by the connections made; holding them costs next to nothing. A second storm against a
fresh server is recorded by py-spy (non-blocking), as collapsed stacks (`<name>.txt`), and
split into the parts of a connect (`BUCKETS`): the Engine.IO handshake, the token, the account,
the user room, the writes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from profile_fanout import ROOMCAST_ENV, buckets, top_frames
from servers import ROOT, cpu_times, free_port, node_installed, pinned, process, wait_ready

# The parts of a connect, first match wins (by frame names in a sample's stack).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("token: signature and claims (TokenService.verify)", ("TokenService.verify",)),
    ("token: revocation check", ("is_revoked",)),
    ("account: the user read from the store (active_user)", ("active_user",)),
    ("user room: subscribe and enter (Connections._connect, the rest)",
     ("Connections._connect", "Connections.connect")),
    ("Socket.IO CONNECT packet in and its ack (python-socketio, inbound)",
     ("AsyncServer._handle_connect (socketio", "handle_connect (realtime", "InboundEvents")),
    ("Engine.IO handshake: socket, OPEN packet, upgrade (python-engineio)",
     ("engineio/async_server.py", "AsyncSocket", "LeanSocket", "DirectWrites")),
    ("HTTP upgrade and WebSocket framing (uvicorn, websockets)",
     ("HttpToolsProtocol", "WebSocketsSansIOProtocol", "SocketProtocol", "TurnWrites")),
    ("waiting in epoll", ("EpollSelector.select",)),
]
OTHER = "event loop: callbacks, timers, the rest"
LATENCY = re.compile(r"^connect\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                     re.M)


def sign_in(url: str) -> str:
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        body = {"email": "storm@example.com", "name": "Storm", "password": "storm-password-1"}
        http.post("/auth/register", json=body).raise_for_status()
        login = http.post("/auth/login", json={k: body[k] for k in ("email", "password")})
        login.raise_for_status()
        return str(login.json()["access_token"])


def storm(url: str, token: str | None, pid: int, args: argparse.Namespace,
          profile: Path | None) -> dict[str, Any]:
    cmd = [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", "connect", "--url", url,
           "--clients", str(args.clients), "--rate", str(args.rate),
           "--duration", f"{args.clients / args.rate + 2:g}"]
    cmd += ["--roomcast", "--token", token] if token else []
    spy = None
    if profile is not None:
        spy = subprocess.Popen(["py-spy", "record", "-p", str(pid), "-o", str(profile), "-f",
                                "raw", "-r", "200", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = sum(cpu_times(pid))
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    used = sum(cpu_times(pid)) - before
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes what it recorded
        spy.wait(30)
    found = LATENCY.search(done.stdout)
    count = int(found.group(1)) if found else 0
    return {"connections": count, "cpu_s": round(used, 3),
            "us_per_connection": round(used / count * 1e6, 1) if count else None,
            "p50_ms": float(found.group(3)) if found else None,
            "p99_ms": float(found.group(5)) if found else None,
            "load_average": os.getloadavg()[0], "table": done.stdout}


def start(name: str, args: argparse.Namespace, port: int) -> tuple[list[str], dict[str, str],
                                                                   Path]:
    if name == "node":
        return [*pinned(0), "node", str(node_installed() / "server.js"), "--port",
                str(port)], {}, ROOT
    tree = args.before_tree.resolve() if name == "before" else ROOT
    data = args.out / f"data-{name}-{port}"
    return ([*pinned(0), sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            {**ROOMCAST_ENV, "DATA_DIR": str(data), "PYTHONPATH": str(tree)}, tree)


def measure(name: str, args: argparse.Namespace, profile: Path | None) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd, env, cwd = start(name, args, port)
    with process(cmd, env, args.out / f"{name}-{port}.log", cwd=cwd) as proc:
        wait_ready(url, proc)
        token = sign_in(url) if name != "node" else None
        return storm(url, token, proc.pid, args, profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--out", type=Path, default=Path("connect-profile"))
    parser.add_argument("--only", choices=["roomcast", "before", "node"], action="append")
    parser.add_argument("--before-tree", type=Path,
                        help="an older Roomcast tree (git archive) measured in the same run")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    args.out.mkdir(parents=True, exist_ok=True)
    names = ["roomcast", "before", "node"] if args.before_tree else ["roomcast", "node"]
    results: dict[str, Any] = {}
    for name in [n for n in names if not args.only or n in args.only]:
        result = results[name] = measure(name, args, None)
        print(f"== {name}: {result['us_per_connection']} us of server CPU per connection, "
              f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
              f"(load average {result['load_average']:.2f})", flush=True)
        if args.no_profile or name == "node":
            continue
        raw = args.out / f"{name}.txt"
        profiled = measure(name, args, raw)
        result["profiled"] = {k: v for k, v in profiled.items() if k != "table"}
        result["buckets"] = buckets(raw, BUCKETS, OTHER)
        result["top"] = top_frames(raw)
        us = result["us_per_connection"] or 0.0
        for label, share in result["buckets"].items():
            print(f"{share:6.1%} {share * us:7.1f} us  {label}")
        for frame, own, incl in result["top"]:
            print(f"{own:6.1%} {incl:6.1%}  {frame}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
