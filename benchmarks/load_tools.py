"""The load tool against Artillery's Socket.IO engine and Locust, on the same workload, in one
run: what each costs in CPU per message sent and received, and how many clients one core of
it holds at that traffic.

    .venv/bin/python benchmarks/load_tools.py --users 300 --rate 0.5 --count 10 --ramp 5

The workload: the example chat app (examples/chat/app.py) on CPU 0; USERS users arrive over
RAMP seconds, each connects (auth `{name}`), joins its room of 10 (rows of one CSV, taken in
turn by every tool), sends `chat` (acked) RATE times a second COUNT times, and leaves; the
server sends each message to the 9 others in the room. Each tool runs alone on CPU 1
(`taskset`), from a fresh server. The server's own counts (`GET /stats`) give what was sent
and delivered, whatever each tool reports; the tool's CPU time is its process tree's user +
system time (`RUSAGE_CHILDREN`). Clients per core = peak clients connected / (CPU seconds /
wall seconds): how many such clients one core of that tool would hold.

Artillery (npm `artillery`, its built-in Socket.IO v4 engine) is installed into
benchmarks/.tools/artillery on first use, Locust (with python-socketio's client, see
load_tools/locustfile.py) into the virtualenv benchmarks/.tools/locust; a tool that cannot be
installed (no npm, no network to the registry) gets a row saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "benchmarks" / ".tools"
HERE = ROOT / "benchmarks" / "load_tools"
ARTILLERY_VERSION = "2.0.34"
LOCUST_VERSION = "2.47.0"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command


class ChatServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            pinned(0, [sys.executable, str(ROOT / "examples/chat/app.py"), "--port",
                       str(self.port)]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.stats()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stats(self) -> dict[str, int]:
        return dict(httpx.get(self.url + "/stats", timeout=10).json())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def users_csv(path: Path, users: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "room"])
        for n in range(users):
            writer.writerow([f"u{n}", f"r{n // 10}"])


def roomcast_command(work: Path, url: str, a: argparse.Namespace) -> list[str]:
    scenario = work / "roomcast.yaml"
    scenario.write_text(f"""\
target: {{url: "{url}"}}
data: {{file: users.csv}}
users:
  - name: chat
    flow:
      - connect: {{auth: {{name: "{{{{ row.name }}}}"}}}}
      - join: "{{{{ row.room }}}}"
      - loop:
          count: {a.count}
          steps:
            - emit: {{event: chat, data: {{room: "{{{{ row.room }}}}", text: hi,
                      ts: "{{{{ now_ms() }}}}"}}, ack: {{within: 10s}}}}
            - think: {1 / a.rate}
      - disconnect
phases: [{{duration: {a.ramp}, arrival_rate: {a.users / a.ramp}}}]
grace: {a.count / a.rate + 20}
""")
    return [sys.executable, "-m", "roomcast.cli", "load", "run", str(scenario), "--json",
            str(work / "roomcast.json")]


def artillery_command(work: Path, url: str, a: argparse.Namespace) -> list[str] | str:
    binary = TOOLS / "artillery" / "node_modules" / ".bin" / "artillery"
    if not binary.exists():
        if shutil.which("npm") is None:
            return "not run: npm is missing"
        (TOOLS / "artillery").mkdir(parents=True, exist_ok=True)
        (TOOLS / "artillery" / "package.json").write_text('{"private": true}\n')
        done = subprocess.run(
            ["npm", "install", f"artillery@{ARTILLERY_VERSION}", "--no-audit", "--no-fund"],
            cwd=TOOLS / "artillery", capture_output=True, text=True, check=False,
            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
        if not binary.exists():
            return f"not run: npm install artillery failed ({done.stderr.strip()[-200:]})"
    script = work / "artillery.json"
    script.write_text(json.dumps({
        "config": {
            "target": url,
            "phases": [{"duration": a.ramp, "arrivalCount": a.users}],
            "payload": {"path": str(work / "users.csv"), "fields": ["name", "room"],
                        "order": "sequence", "skipHeader": True},
            # Artillery templates config.socketio once, when it reads the script (before any
            # payload row), so its users all connect with one name; the app does not mind.
            "socketio": {"transports": ["websocket"], "auth": {"name": "artillery"}},
        },
        "scenarios": [{"engine": "socketio", "flow": [
            {"emit": {"channel": "join", "data": "{{ room }}",
                      "acknowledge": {"timeout": 10}}},
            {"loop": [
                {"emit": {"channel": "chat", "data": {"room": "{{ room }}", "text": "hi"},
                          "acknowledge": {"timeout": 10}}},
                {"think": 1 / a.rate}], "count": a.count},
        ]}],
    }))
    return [str(binary), "run", "--quiet", "--output", str(work / "artillery-report.json"),
            str(script)]


def locust_command(work: Path, url: str, a: argparse.Namespace) -> list[str] | str:
    venv = TOOLS / "locust"
    binary = venv / "bin" / "locust"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"locust=={LOCUST_VERSION}",
             "python-socketio[client]>=5.18,<6"], capture_output=True, text=True, check=False)
        if not binary.exists():
            return f"not run: pip install locust failed ({done.stderr.strip()[-200:]})"
    run_time = int(a.ramp + a.count / a.rate + 10)
    return [str(binary), "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(a.users),
            "-r", str(a.users / a.ramp), "-t", f"{run_time}s", "-H", url, "--only-summary",
            "--csv", str(work / "locust"), "--stop-timeout", "5"]


def version_of(tool: str) -> str:
    if tool == "roomcast":
        return "this tree"
    return {"artillery": ARTILLERY_VERSION, "locust": LOCUST_VERSION}[tool]


def run_tool(tool: str, a: argparse.Namespace, work: Path) -> dict[str, Any]:
    server = ChatServer()
    try:
        users_csv(work / "users.csv", a.users)
        command = {"roomcast": roomcast_command, "artillery": artillery_command,
                   "locust": locust_command}[tool](work, server.url, a)
        if isinstance(command, str):
            return {"tool": tool, "note": command}
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                # A server too busy to answer at once: the next sample will do.
                with contextlib.suppress(httpx.HTTPError):
                    peak[0] = max(peak[0], server.stats()["connected"])
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        sampler.start()
        proc = subprocess.run(pinned(1, command), capture_output=True, text=True, cwd=work,
                              env={**os.environ, "CHAT_RATE": str(a.rate),
                                   "CHAT_COUNT": str(a.count)}, check=False)
        wall = time.monotonic() - began
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        stats = server.stats()
    finally:
        server.stop()
    messages = stats["chat_sent"] + stats["chat_delivered"]
    row: dict[str, Any] = {
        "tool": tool, "version": version_of(tool), "exit": proc.returncode,
        "peak_connected": peak[0], "sent": stats["chat_sent"],
        "delivered": stats["chat_delivered"], "cpu_s": round(cpu, 2), "wall_s": round(wall, 1),
        "cpu_us_per_message": round(cpu / messages * 1e6, 1) if messages else None,
        "clients_per_core": round(peak[0] / (cpu / wall)) if cpu else None,
    }
    if proc.returncode != 0:
        row["stderr"] = proc.stderr.strip()[-400:]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.5, help="chat messages per second per user")
    parser.add_argument("--count", type=int, default=10, help="messages per user")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which users arrive")
    parser.add_argument("--only", default="roomcast,artillery,locust")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "load_tools.json")
    a = parser.parse_args()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows = []
    for tool in a.only.split(","):
        work = TOOLS / "runs" / tool
        work.mkdir(parents=True, exist_ok=True)
        rows.append(run_tool(tool, a, work))
        print(json.dumps(rows[-1]), flush=True)
    result = {"started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                         f"load average {os.getloadavg()[0]:.1f}",
              "workload": {k: v for k, v in vars(a).items() if k != "out"}, "rows": rows}
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'tool':<10}{'peak conn':>10}{'sent':>7}{'delivered':>10}{'CPU s':>7}"
          f"{'us/msg':>8}{'clients/core':>13}")
    for row in rows:
        if "note" in row or not row["sent"]:
            why = row.get("note") or "nothing sent: " + row.get("stderr", "")
            print(f"{row['tool']:<10}{why}")
            continue
        print(f"{row['tool']:<10}{row['peak_connected']:>10}{row['sent']:>7}"
              f"{row['delivered']:>10}{row['cpu_s']:>7}{row['cpu_us_per_message']:>8}"
              f"{row['clients_per_core']:>13}")


if __name__ == "__main__":
    main()
