"""How long `roomcast serve` takes to start and to stop, on an empty and a filled data directory.

    .venv/bin/python benchmarks/startup_time.py                     # empty, then filled
    .venv/bin/python benchmarks/startup_time.py --herd-clients 5000  # also a stop with sockets
    .venv/bin/python benchmarks/startup_time.py --take-over  # restarts that take over

Start-up is timed from the exec to two moments: the Socket.IO handshake answered (what
`benchmarks/servers.py` `wait_ready` waits for, and what a reconnecting client needs) and
`/health/ready` answering 200 (what a load balancer waits for). Stop is timed from SIGTERM to
the process's exit. With `--take-over` each round starts a server, then a second one with
`--take-over` on the same port and directory, and times what its clients would wait: from the
first process's exit until the second answered the handshake. The filled directory holds what a
benchmark run leaves in the embedded store: meeting messages and closed meeting stays, written
through the store's own journal (so it holds a snapshot and a journal as a long-running
server's does). With `--herd-clients`, `roomcast load herd` holds that many clients in meetings
of 10 and the server is stopped and started again under them, as `benchmarks/run.py --scenario
herd` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from servers import ROOT, compile_tree, cpu_times, free_port, pinned

ENV = {"ENV": "test", "LOG_LEVEL": "WARNING",
       "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
       "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000"}
POLL = 0.005  # seconds between readiness checks


# The tree the server runs from (--root: another checkout, to measure before and after).
TREE = [ROOT]


def serve_cmd(port: int) -> list[str]:
    return [*pinned(0), sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port)]


Started = tuple[subprocess.Popen[bytes], float, float, float]


def start(data_dir: Path, port: int, log: Path) -> Started:
    """Start a server; return it with the seconds until its handshake answered and until
    /health/ready said 200, and the CPU seconds it had used by then (which the machine's other
    load moves less than the wall-clock times)."""
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        began = time.monotonic()
        proc = subprocess.Popen(serve_cmd(port), env={**os.environ, **ENV,
                                                      "DATA_DIR": str(data_dir)},
                                stdout=out, stderr=subprocess.STDOUT, cwd=TREE[0])
    handshake = _until(proc, began, f"{url}/socket.io/?EIO=4&transport=polling",
                       lambda status: status < 500)
    ready = _until(proc, began, f"{url}/health/ready", lambda status: status == 200)
    return proc, handshake, ready, sum(cpu_times(proc.pid))


def _until(proc: subprocess.Popen[bytes], began: float, url: str, good: Any) -> float:
    with httpx.Client(timeout=1) as client:
        while time.monotonic() - began < 120:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if good(client.get(url).status_code):
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            time.sleep(POLL)
    raise RuntimeError(f"{url} did not answer in 120 s")


STOP_LIMIT = 120.0  # seconds a stopping server gets before it is killed


def stop(proc: subprocess.Popen[bytes]) -> tuple[float, int | str]:
    """SIGTERM, then the seconds until the process exited, and its status ("killed" when it
    had not exited within STOP_LIMIT)."""
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        status: int | str = proc.wait(STOP_LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = "killed"
    return time.monotonic() - began, status


async def _fill(data_dir: Path, messages: int, stays: int, meetings: int) -> None:
    from core.ids import new_id, utcnow
    from core.settings import Settings
    from core.store.database import close_mongo, open_mongo
    from core.store.messages import NewMessage
    from core.store.schema import SCHEMA_VERSION, VERSION_FIELD

    settings = Settings(_env_file=None, env="test", data_dir=data_dir)
    client, _ = open_mongo(settings)
    db = client[settings.mongo_db]
    rooms = [new_id() for _ in range(meetings)]
    project, user = new_id(), new_id()
    try:
        for start_at in range(0, messages, 500):  # in groups, as the server writes them
            group = []
            for n in range(start_at, min(messages, start_at + 500)):
                message = NewMessage(meeting_id=rooms[n % meetings], project_id=project,
                                     user_id=user, user_name="Load", text=f"message {n} " * 3,
                                     client_id=new_id())
                message.offset = n // meetings + 1
                group.append(message.document())
            await db["meeting_messages"].insert_many(group)
        now = utcnow()
        for start_at in range(0, stays, 500):
            await db["attendance"].insert_many([
                {"_id": new_id(), "meeting_id": rooms[n % meetings], "user_id": user,
                 "sid": new_id()[:20], "joined_at": now, "left_at": now,
                 VERSION_FIELD: SCHEMA_VERSION}
                for n in range(start_at, min(stays, start_at + 500))])
    finally:
        await close_mongo(client)


def fill(data_dir: Path, messages: int, stays: int, meetings: int) -> None:
    asyncio.run(_fill(data_dir, messages, stays, meetings))


def store_size(data_dir: Path) -> str:
    files = sorted((data_dir / "store").glob("*-*.*"))
    return ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in files) or "empty"


def rounds(label: str, data_dir: Path, count: int, log: Path) -> None:
    for _ in range(count):
        proc, handshake, ready, cpu = start(data_dir, free_port(), log)
        took, status = stop(proc)
        print(f"| {label} | {handshake:.2f} s | {ready:.2f} s | {cpu:.2f} s "
              f"| {took:.2f} s (exit {status}) |", flush=True)


def take_over_rounds(label: str, data_dir: Path, count: int, log: Path) -> None:
    """A server restarted with `roomcast serve --take-over`, no clients: the seconds from the old
    process's exit until the new one answered the handshake (what reconnecting clients wait
    for), and the new process's CPU in that time; and the seconds from the new one's exec until
    it answered."""
    for _ in range(count):
        port = free_port()
        old = start(data_dir, port, log)[0]
        with log.open("ab") as out:
            began = time.monotonic()
            new = subprocess.Popen([*serve_cmd(port), "--take-over"],
                                   env={**os.environ, **ENV, "DATA_DIR": str(data_dir)},
                                   stdout=out, stderr=subprocess.STDOUT, cwd=TREE[0])
        try:
            status = old.wait(STOP_LIMIT)
            gone, cpu_then = time.monotonic() - began, sum(cpu_times(new.pid))
            # Only the new process can answer now: the old one has exited.
            answered = _until(new, began, f"http://127.0.0.1:{port}/socket.io/?EIO=4"
                              "&transport=polling", lambda code: code < 500)
            cpu = sum(cpu_times(new.pid)) - cpu_then
            print(f"| {label} | {answered - gone:.2f} s | {cpu:.2f} s | {answered:.2f} s "
                  f"(old exit {status}) |", flush=True)
        finally:
            if old.poll() is None:
                old.kill()
                old.wait()
            stop(new)


def herd(data_dir: Path, clients: int, log: Path) -> None:
    """Stop and start the server under `clients` clients in meetings of 10."""
    port = free_port()
    proc = start(data_dir, port, log)[0]
    work = Path(tempfile.mkdtemp(prefix="startup-herd-"))
    ready_file = work / "ready"
    load = subprocess.Popen(
        [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", "herd", "--url",
         f"http://127.0.0.1:{port}", "--clients", str(clients), "--room-size", "10",
         "--rate", "250", "--duration", "30", "--connect-rate", "500", "--register", "1",
         "--ready-file", str(ready_file), "--json", str(work / "report.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while not ready_file.exists():
            if load.poll() is not None:
                raise RuntimeError(f"the load tool ended: {load.communicate()[0]!r}")
            time.sleep(0.05)
        took, status = stop(proc)
        proc, handshake, ready, cpu = start(data_dir, port, log)
        print(f"| {clients} clients in meetings, then restarted | {handshake:.2f} s "
              f"| {ready:.2f} s | {cpu:.2f} s | {took:.2f} s (exit {status}) |", flush=True)
        out, _ = load.communicate(timeout=300)
        print(out.decode(errors="replace")[-2000:])
    finally:
        if load.poll() is None:
            load.kill()
        if proc.poll() is None:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="starts per data directory")
    parser.add_argument("--messages", type=int, default=300_000,
                        help="meeting messages in the filled directory")
    parser.add_argument("--stays", type=int, default=50_000,
                        help="closed meeting stays in the filled directory")
    parser.add_argument("--meetings", type=int, default=500)
    parser.add_argument("--herd-clients", type=int, default=0,
                        help="also stop and start under this many clients (0: not)")
    parser.add_argument("--herd-on", choices=["filled", "empty"], default="filled",
                        help="the data directory the herd's server runs on")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="run the server from this checkout (default: this one)")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave the tree's bytecode as it is (see servers.compile_tree)")
    parser.add_argument("--take-over", action="store_true",
                        help="restart each time with `roomcast serve --take-over` instead")
    parser.add_argument("--keep", type=Path, help="fill this directory (kept) instead of a "
                        "temporary one; an existing one is used as it is")
    args = parser.parse_args()
    TREE[0] = args.root.resolve()
    if not args.no_compile:
        compile_tree(TREE[0])
    work = Path(tempfile.mkdtemp(prefix="startup-"))
    log = work / "serve.log"
    try:
        print(f"load average {os.getloadavg()[0]:.2f}; server from {TREE[0]} "
              f"({'bytecode as found' if args.no_compile else 'compiled first'}); log {log}")
        if args.take_over:
            print("| data directory | old exit to handshake answered | CPU in it "
                  "| exec to handshake answered |")
            print("| --- | ---: | ---: | ---: |")
        else:
            print("| data directory | handshake answered | ready | CPU by ready | stop |")
            print("| --- | ---: | ---: | ---: | ---: |")
        each = take_over_rounds if args.take_over else rounds
        each("empty", work / "empty", args.rounds, log)
        filled = args.keep or work / "filled"
        if not (filled / "store").exists():
            began = time.monotonic()
            fill(filled, args.messages, args.stays, args.meetings)
            print(f"(filled with {args.messages} messages and {args.stays} stays in "
                  f"{time.monotonic() - began:.0f} s: {store_size(filled)})", flush=True)
        each(f"filled ({args.messages} messages)", filled, args.rounds, log)
        print(f"(after: {store_size(filled)})")
        if args.herd_clients:
            herd(filled if args.herd_on == "filled" else work / "empty", args.herd_clients, log)
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
