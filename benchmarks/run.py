"""Benchmarks on one machine, in one run: Roomcast in one process, Roomcast in two processes
over Redis, plain python-socketio (benchmarks/baseline_server.py) as the baseline, and Node's
socket.io (benchmarks/node/server.js, when node and npm are installed), under the same
`roomcast load` scenarios. Writes a markdown table with ratios to the baseline, the exact
command of every row, a summary of the highest rates held, and the machine.

    python benchmarks/run.py --quick            # about two minutes
    python benchmarks/run.py --out results.md   # the full set

Servers are pinned to CPU 0 and the load generator to CPU 1 with taskset when available. Each
case starts once the servers are idle again (at most two minutes), so a case that overran them
does not leave the next one behind its backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from servers import (
    NODE_DIR,
    ROOT,
    compile_tree,
    cpu_times,
    free_port,
    node_installed,
    pinned,
    process,
    wait_ready,
)

ROOMCAST_ENV = {
    "ENV": "test", "LOG_LEVEL": "WARNING",
    # A load generator sends far more from one address than a person: lift the per-socket
    # and per-IP limits so the benchmark measures fan-out, not the limiter.
    "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
    "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000",
}


@dataclass
class Target:
    name: str
    urls: list[str]
    pids: list[int]
    roomcast: bool
    # Scenarios this target cannot run, with the reason printed in their row.
    unsupported: dict[str, str] = field(default_factory=dict)
    # Credentials and rooms for a case; None: register a user through REST.
    extra: Callable[[Case], list[str]] | None = None
    # The herd case's blow: restart the server, or kill one of its processes.
    herd: Callable[[], None] | None = None


@dataclass
class Case:
    scenario: str
    args: list[str]
    label: str


def roomcast_cmd(port: int) -> list[str]:
    return [*pinned(0), sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1",
            "--port", str(port)]


@contextmanager
def baseline(stack: ExitStack, logs: Path) -> Iterator[Target]:
    port = free_port()
    cmd = [*pinned(0), sys.executable, str(ROOT / "benchmarks" / "baseline_server.py"),
           "--port", str(port)]
    proc = stack.enter_context(process(cmd, {}, logs / "baseline.log"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    target = Target("python-socketio (baseline)", [url], [proc.pid], roomcast=False)
    target.herd = restarter(stack, target, cmd, {}, logs / "baseline.log")
    yield target


@contextmanager
def node(stack: ExitStack, logs: Path) -> Iterator[Target]:
    """Node's socket.io (benchmarks/node/server.js), installed with npm on first use."""
    node_installed()
    port = free_port()
    cmd = [*pinned(0), "node", str(NODE_DIR / "server.js"), "--port", str(port)]
    proc = stack.enter_context(process(cmd, {}, logs / "node.log"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    version_of = json.loads((NODE_DIR / "node_modules" / "socket.io" / "package.json")
                            .read_text())["version"]
    target = Target(f"Node socket.io {version_of}", [url], [proc.pid], roomcast=False)
    target.herd = restarter(stack, target, cmd, {}, logs / "node.log")
    yield target


STOP_LIMIT = 60.0  # seconds a restarted server gets to stop


def restarter(stack: ExitStack, target: Target, cmd: list[str], env: dict[str, str],
              log: Path, take_over: bool = False) -> Callable[[], None]:
    """The herd's blow for a one-process target: stop the server (SIGTERM, as a deploy
    does) and start it again on the same port and data; with `take_over`, as
    `roomcast serve --take-over` restarts: the new process is started while the old one
    serves, and stops it once it is ready to take its place."""

    def restart() -> None:
        old = target.pids[0]
        if take_over:
            proc = stack.enter_context(process([*cmd, "--take-over"], env,
                                               log.with_suffix(".restarted.log")))
        else:
            os.kill(old, signal.SIGTERM)
        waited = time.monotonic()
        while pid_alive(old) and time.monotonic() - waited < STOP_LIMIT:
            time.sleep(0.02)
        if pid_alive(old):  # the data directory has one owner: the new one must not wait
            os.kill(old, signal.SIGKILL)
            print(f"the server did not stop within {STOP_LIMIT:g} s: killed", file=sys.stderr)
        if not take_over:
            proc = stack.enter_context(process(cmd, env, log.with_suffix(".restarted.log")))
        target.pids[0] = proc.pid
        wait_ready(target.urls[0], proc)

    return restart


def pid_alive(pid: int) -> bool:
    """Whether `pid` has not exited yet (a zombie counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextmanager
def roomcast_one(stack: ExitStack, logs: Path, people: People,
                 take_over: bool = False) -> Iterator[Target]:
    """One process; with `take_over`, restarted in the herd with `--take-over` (the herd is
    all it is run for: its other cases would be the same as without). Its store holds the
    seeded users, teams and meetings before it starts (`people`)."""
    name = "takeover" if take_over else "one"
    port = free_port()
    env = {**ROOMCAST_ENV, "DATA_DIR": str(logs / f"data-{name}")}
    seeded = write_seed(logs / f"seed-{name}", people)
    load_seed(seeded, env, logs / f"seed-{name}.log")
    proc = stack.enter_context(process(roomcast_cmd(port), env, logs / f"roomcast-{name}.log"))
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    target = Target("Roomcast, 1 process" + (", --take-over" if take_over else ""), [url],
                    [proc.pid], roomcast=True, extra=seeded.extra)
    target.herd = restarter(stack, target, roomcast_cmd(port), env,
                            logs / f"roomcast-{name}.log", take_over)
    yield target


@dataclass(frozen=True)
class People:
    """How many distinct users the Roomcast targets need: one per client of the largest case
    (and the fan-out's publisher), teams of the rooms' size, and the fan-out's audience."""

    users: int
    fanout: int  # the fan-out's listeners and its publisher

    @classmethod
    def of(cls, clients: int, memory_clients: int, herd_clients: int) -> People:
        return cls(max(clients + 1, memory_clients, herd_clients), clients + 1)


SEED_FANOUT_PROJECT = "b2" + "0" * 30


@dataclass(frozen=True)
class Seeded:
    """A seed file and what the load tool needs to act as its users: a tokens file (one token
    and its user's id per line, user i for client i), the teams' meeting rooms (room r is the
    meeting of team r, whose members are the clients of that room) and the fan-out's room."""

    seed: Path
    tokens: Path
    rooms: list[str]
    fanout_room: str

    def extra(self, case: Case) -> list[str]:
        credentials = ["--roomcast", "--tokens-file", str(self.tokens)]
        if case.scenario in ("rooms", "herd"):
            return [*credentials, *(arg for room in self.rooms for arg in ("--room", room))]
        if case.scenario == "fanout":
            return [*credentials, "--room", self.fanout_room]
        return credentials


def write_seed(directory: Path, people: People) -> Seeded:
    """Distinct users, as a deployment's clients are: each client of a case connects as its
    own user with its own token, so a connect verifies a token and reads an account no other
    client shares. The rooms and herd cases' clients are in teams of HERD_ROOM_SIZE, each a
    project of its own with one meeting (a join reads a membership of ten); the fan-out's
    listeners and publisher are the members of one more project with one meeting.

    Servers that share no store load the same documents at start-up
    (tests/integration/realtime/seeded_serve.py), or have them written into their store before
    (`--load-only`); the tokens are signed with the test settings' secret they all use.
    """
    from core.settings import Settings
    from core.tokens import TokenService

    directory.mkdir(parents=True, exist_ok=True)
    now = "2026-01-01T00:00:00Z"
    user_ids = [f"b0{n:030d}" for n in range(people.users)]
    teams = [user_ids[n:n + HERD_ROOM_SIZE] for n in range(0, people.users, HERD_ROOM_SIZE)]
    projects = [{"id": f"b3{n:030d}", "name": f"team {n}", "owner_id": team[0],
                 "member_ids": team} for n, team in enumerate(teams)]
    projects.append({"id": SEED_FANOUT_PROJECT, "name": "fan-out", "owner_id": user_ids[0],
                     "member_ids": user_ids[:people.fanout]})
    meetings = [{"id": f"b1{n:030d}", "project_id": project["id"], "title": f"bench {n}",
                 "scheduled_at": now, "created_by": project["owner_id"]}
                for n, project in enumerate(projects)]
    seed = {
        "users": [{"id": uid, "email": f"load-{n}@bench.local", "name": f"Load {n}"}
                  for n, uid in enumerate(user_ids)],
        "projects": projects,
        "meetings": meetings,
    }
    seed_path = directory / "seed.json"
    seed_path.write_text(json.dumps(seed))
    settings = Settings(_env_file=None, env="test", access_token_ttl_seconds=6 * 3600)
    service = TokenService(settings)
    tokens = directory / "tokens.txt"
    tokens.write_text("".join(
        f"{service.issue(sub=uid, role='member', typ='access').token} {uid}\n"
        for uid in user_ids))
    rooms = [f"meeting:{m['id']}" for m in meetings]
    return Seeded(seed_path, tokens, rooms[:-1], rooms[-1])


def load_seed(seeded: Seeded, env: dict[str, str], log: Path) -> None:
    """Write the seed into the store a server of `env` will open (it must not be running)."""
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-m", "tests.integration.realtime.seeded_serve",
                        "--load-only"], env={**os.environ, **env,
                                             "ROOMCAST_TEST_SEED": str(seeded.seed)},
                       cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=600)


@contextmanager
def roomcast_two(stack: ExitStack, logs: Path, people: People) -> Iterator[Target]:
    redis_port = free_port()
    redis = stack.enter_context(process(
        [*pinned(0), "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"], {}, logs / "redis.log"))
    env = {**ROOMCAST_ENV, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "DATA_DIR": str(logs / "data-two")}
    seeded = write_seed(logs / "seed-two", people)
    if os.environ.get("MONGO_URI"):
        env["MONGO_URI"] = os.environ["MONGO_URI"]
        load_seed(seeded, env, logs / "seed-two.log")
        serve = roomcast_cmd
    else:
        # Without MongoDB each process has its own embedded store: each loads the same
        # documents as it starts (tests/integration/realtime/seeded_serve.py).
        env["ROOMCAST_TEST_SEED"] = str(seeded.seed)

        def serve(port: int) -> list[str]:
            return [*pinned(0), sys.executable, "-m", "tests.integration.realtime.seeded_serve",
                    "--host", "127.0.0.1", "--port", str(port)]

    urls, pids = [], []
    for n in range(2):
        port = free_port()
        # Each its own DATA_DIR: an embedded store has one owner process.
        own = {**env, "DATA_DIR": str(logs / f"data-two-{n}")}
        proc = stack.enter_context(process(serve(port), own, logs / f"roomcast-{n}.log"))
        urls.append(f"http://127.0.0.1:{port}")
        pids.append(proc.pid)
        wait_ready(urls[-1], proc)
    pids.append(redis.pid)

    def kill_one() -> None:
        # The herd's blow: the second process dies at once (SIGKILL, as a crash); its clients
        # come back on the first. It stays down: the herd is this target's last case.
        os.kill(pids[1], signal.SIGKILL)

    yield Target("Roomcast, 2 processes + Redis", urls, pids, roomcast=True, extra=seeded.extra,
                 herd=kill_one)


FANOUT_RATES = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0]
ROOM_RATES = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 16.0]
CONNECT_RATE = 500
# The reconnect herd: clients in rooms of 10, all connected, then the server restarted (one
# process) or one of two processes killed; messages keep flowing into the rooms meanwhile.
HERD_ROOM_SIZE, HERD_RATE, HERD_WAIT = 10, 250, 30.0
# Every delivery of one fan-out message shares its latency, so a case's p99 is set by its
# slowest messages: with fewer than 100 a single slow one (a collection, a beat of the
# presence sweep in either process) is more than 1% of the deliveries and becomes the p99 on
# its own. Low rates run long enough to publish at least this many (not with --quick).
FANOUT_MIN_MESSAGES = 100


def cases(quick: bool, clients: int, duration: float, memory_clients: int,
          herd_clients: int, herd_backoff: str = "client",
          room_rates: list[float] | None = None) -> list[Case]:
    """The stepped rates: the highest one a target holds is read off these rows."""
    rates = [1.0, 10.0] if quick else FANOUT_RATES
    room_rates = room_rates or ([1.0] if quick else ROOM_RATES)
    common = ["--clients", str(clients), "--duration", str(duration)]
    # Idle memory: connect them all, then hold them for a few seconds.
    hold = max(duration, memory_clients / CONNECT_RATE + 3)
    found = [Case("connect", ["--clients", str(memory_clients), "--duration", f"{hold:g}",
                              "--rate", str(CONNECT_RATE)], f"connect {memory_clients}")]
    least = 0 if quick else FANOUT_MIN_MESSAGES
    found += [Case("fanout", ["--clients", str(clients),
                              "--duration", f"{max(duration, least / r):g}", "--rate", f"{r:g}"],
                   f"fanout 1x{clients} @{r:g}/s") for r in rates]
    found += [Case("rooms", [*common, "--rate", f"{r:g}", "--room-size", "10"],
                   f"rooms of 10, {clients} clients @{r:g}/s each") for r in room_rates]
    # Last: the blow leaves a two-process target with one process.
    found.append(Case("herd", ["--clients", str(herd_clients), "--room-size",
                               str(HERD_ROOM_SIZE), "--rate", str(HERD_RATE), "--duration",
                               f"{HERD_WAIT:g}", "--connect-rate", str(CONNECT_RATE),
                               *(["--backoff", "load"] if herd_backoff == "load" else [])],
                      f"herd {herd_clients} in rooms of {HERD_ROOM_SIZE}"
                      + (", load tool's backoff" if herd_backoff == "load" else "")))
    return found


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


IDLE_SHARE, SETTLE_LIMIT = 0.1, 120.0  # of a core over half a second; seconds at most


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += sum(cpu_times(pid))
        except OSError:
            continue
    return total


WARM_UP = ["--clients", "10", "--duration", "1", "--rate", "100"]


def warm_up(target: Target, cmd: list[str]) -> str | None:
    """Before the memory per connection is measured: the same scenario with a few clients, so
    what a server does once, on first use (a sign-in's password hashing, whose working memory
    the allocator keeps; validators or modules made on first use), is in the idle figure, not
    counted against the connections."""
    head = cmd[:cmd.index("--clients")]
    extra = cmd[cmd.index("--rate") + 2:cmd.index("--json")]
    done = subprocess.run([*head, *WARM_UP, *extra], cwd=ROOT, capture_output=True,
                          check=False, timeout=120)
    if done.returncode == 0:
        return None
    return f"exit {done.returncode}: {done.stderr.decode()[-300:].strip()}"


def settle(pids: list[int]) -> float:
    """Wait until the servers are idle: a case that overran them leaves messages its clients
    sent still to be handled after they left, and the next case must not start behind that
    backlog (its sign-in would wait in line). Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_LIMIT:
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < IDLE_SHARE * 0.5 * max(len(pids), 1):
            break
    return round(time.monotonic() - began, 1)


def shown(extra: list[str]) -> list[str]:
    """The load tool's extra arguments as a row shows them: the seeded tokens and rooms named,
    not spelled out."""
    rooms = extra.count("--room")
    if "--tokens-file" not in extra:
        return extra
    return ["--roomcast", "--tokens-file", "SEEDED_TOKENS",
            *(["--room", f"<{rooms} seeded meeting{'s' if rooms > 1 else ''}>"] if rooms else [])]


def run_case(target: Target, case: Case, work: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"target": target.name, "case": case.label, "scenario": case.scenario,
                           "rate": case.args[case.args.index("--rate") + 1]}
    if case.scenario in target.unsupported:
        row["status"] = f"not run: {target.unsupported[case.scenario]}"
        return row
    report_path = work / f"report-{abs(hash((target.name, case.label)))}.json"
    urls = [arg for url in target.urls for arg in ("--url", url)]
    if target.extra is not None:
        extra = target.extra(case)
    else:
        extra = ["--register", "1"] if target.roomcast else []
    ready = work / f"ready-{abs(hash((target.name, case.label)))}"
    herd = ["--ready-file", str(ready)] if case.scenario == "herd" else []
    cmd = [*pinned(1), sys.executable, "-m", "roomcast.cli", "load", case.scenario, *urls,
           *case.args, *extra, *herd, "--json", str(report_path)]
    row["command"] = shlex.join(["roomcast", "load", case.scenario, *urls, *case.args,
                                 *shown(extra), *(["--ready-file", "PATH"] if herd else [])])
    if case.scenario == "connect":
        failed = warm_up(target, cmd)
        if failed:  # the idle size then includes less first-use work: said in the row
            row["warm_up"] = failed
            print(f"{target.name}: the warm-up failed: {failed}", file=sys.stderr)
    row["settled_s"] = settle(target.pids)
    idle = rss_kb(target.pids)
    peak = idle
    pids, cpu_before = list(target.pids), cpu_seconds(target.pids)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    struck = False
    while proc.poll() is None:
        peak = max(peak, rss_kb(target.pids))
        if herd and not struck and ready.exists() and target.herd is not None:
            struck = True
            target.herd()  # the clients are in their rooms: restart, or kill a process
        time.sleep(0.05 if herd else 0.2)
    _, err = proc.communicate()
    if not struck:  # the servers' CPU (and their Redis's) over the case, not across a blow
        row["server_cpu_s"] = round(cpu_seconds(pids) - cpu_before, 2)
    if proc.returncode != 0 or not report_path.exists():
        row["status"] = f"failed (exit {proc.returncode}): {err.decode()[-300:].strip()}"
        return row
    report = json.loads(report_path.read_text())
    row.update(status="ok", report=report)
    connected = report["connect"]["connected"]
    if case.scenario == "connect" and connected:
        row["kb_per_connection"] = round((peak - idle) / connected, 1)
        row["rss_kb"] = {"idle": idle, "peak": peak}
    return row


def cell(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return ""
    return f"{value / base:.2f}x"


def markdown(rows: list[dict[str, Any]], machine: dict[str, str], header: str) -> str:
    lines = [header, "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), "",
             "Ratios compare each row with the baseline's row of the same case in this run "
             "(p99: lower is better; deliveries/s: higher is better). KB/conn is the servers' "
             "resident memory growth per connection while the connect scenario holds them (from "
             "its size after a warm-up run of 10 clients).",
             "", "| target | case | p50 ms | p99 ms | max ms | deliveries/s | lost | errors "
             "| KB/conn | p99 vs baseline | deliveries/s vs baseline | command |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    base = {row["case"]: row for row in rows
            if row["target"].startswith("python-socketio") and row.get("status") == "ok"}
    herds = [row for row in rows if row.get("scenario") == "herd"]
    for row in rows:
        if row in herds:
            continue
        if row.get("status") != "ok":
            command = f"`{row['command']}`" if row.get("command") else ""
            cells = [row["target"], row["case"], row["status"], *[""] * 8, command]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        report = row["report"]
        key = "connect" if row["scenario"] == "connect" else "delivery"
        latency = report[key]["latency_ms"]
        dps = report["delivery"]["per_second"] if key == "delivery" else None
        errors = ", ".join(f"{k}={v}" for k, v in report["errors"].items()) or "0"
        other = base.get(row["case"])
        other_lat = other["report"][key]["latency_ms"]["p99"] if other else None
        other_dps = other["report"]["delivery"]["per_second"] if other else None
        lines.append(
            f"| {row['target']} | {row['case']} ({key}) | {cell(latency['p50'])} "
            f"| {cell(latency['p99'])} | {cell(latency['max'])} | {cell(dps, 0)} "
            f"| {report['delivery']['lost'] if key == 'delivery' else ''} | {errors} "
            f"| {cell(row.get('kb_per_connection'))} | {ratio(latency['p99'], other_lat)} "
            f"| {ratio(dps, other_dps)} | `{row['command']}` |")
    return "\n".join(lines) + "\n" + herd_table(herds)


def herd_table(rows: list[dict[str, Any]]) -> str:
    """The reconnect herd: per target, how long until every client was back in its room with
    `since`, the per-client latencies and what was missed."""
    if not rows:
        return ""
    lines = ["", "## Reconnect herd", "",
             f"Clients in rooms of {HERD_ROOM_SIZE}, all connected; then one process: the "
             "server is restarted (SIGTERM, started again on the same port; *--take-over*: the new "
             "process is started first, with `roomcast serve --take-over`, and stops the old "
             "one once it has imported the server); two processes: "
             "one is killed (SIGKILL) and its clients come back on the other. Clients "
             "reconnect with the official socket.io-client's default backoff (0.5-1.5 s "
             "before the first attempt; a case marked *load tool's backoff* tries at once, "
             "then after 0.125-0.25 s, doubling, which leaves the server's part alone) and "
             "rejoin with `since`; messages are sent into the "
             f"rooms at {HERD_RATE}/s meanwhile by the clients that are back. *all back*: from the "
             "first drop until the last client is in its room again (a restart's downtime "
             "included); *first to last back*: from the first client back; *back*: from a "
             "client's drop until it is in its room again; *attempt*: from the start of the "
             "attempt that succeeded; *missed*: messages the server confirmed that a member "
             "of their room never received.", "",
             "| target | case | dropped | back | all back, s | first to last back, s "
             "| back p50 ms | back p99 ms "
             "| back max ms | attempt p50 ms | attempt p99 ms | attempt max ms | missed "
             "| errors | command |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        if row.get("status") != "ok":
            command = f"`{row['command']}`" if row.get("command") else ""
            lines.append(f"| {row['target']} | {row['case']} | {row['status']} "
                         f"|{' |' * 12} {command} |")
            continue
        herd = row["report"]["herd"]
        back, attempt = herd["back_ms"], herd["attempt_ms"]
        errors = ", ".join(f"{k}={v}" for k, v in row["report"]["errors"].items()
                           if not k.startswith(("disconnect:", "reconnect:"))) or "0"
        lines.append(
            f"| {row['target']} | {row['case']} | {herd['dropped']} | {herd['back']} "
            f"| {cell(herd['all_back_s'], 2)} | {cell(herd['spread_s'], 2)} "
            f"| {cell(back['p50'])} | {cell(back['p99'])} "
            f"| {cell(back['max'])} | {cell(attempt['p50'])} | {cell(attempt['p99'])} "
            f"| {cell(attempt['max'])} | {herd['missed']} | {errors} | `{row['command']}` |")
    return "\n".join(lines) + "\n"


SLO_MS = 100.0


def _held(row: dict[str, Any]) -> bool:
    """p99 under the SLO, nothing lost and no errors."""
    report = row["report"]
    return (report["delivery"]["latency_ms"]["p99"] < SLO_MS and report["delivery"]["lost"] == 0
            and not report["errors"] and report["delivery"]["delivered"] > 0)


def _rate(row: dict[str, Any]) -> float:
    return float(row["rate"])


def summary(rows: list[dict[str, Any]]) -> str:
    """Per target: the figures the performance targets are stated in, with ratios."""
    ok = [row for row in rows if row.get("status") == "ok"]
    targets = list(dict.fromkeys(row["target"] for row in ok))
    figures: dict[str, dict[str, float | None]] = {}
    for target in targets:
        mine = [row for row in ok if row["target"] == target]
        fan = [row for row in mine if row["scenario"] == "fanout"]
        rooms = [row for row in mine if row["scenario"] == "rooms"]
        connect = [row for row in mine if row["scenario"] == "connect"]
        figures[target] = {
            "fanout_rate": max((_rate(r) for r in fan if _held(r)), default=None),
            # The busiest second actually delivered (deliveries drained late do not count).
            "fanout_peak": max((r["report"]["delivery"]["peak_per_second"] for r in fan),
                               default=None),
            "rooms_rate": max((_rate(r) for r in rooms if _held(r)), default=None),
            "kb": connect[0].get("kb_per_connection") if connect else None,
            "fanout_ran": float(bool(fan)), "rooms_ran": float(bool(rooms)),
        }
    base = next((figures[t] for t in targets if t.startswith("python-socketio")), None)
    lines = ["", f"## Summary (held: p99 < {SLO_MS:g} ms, nothing lost, no errors)", "",
             "| target | fan-out: highest rate held, msg/s | fan-out: peak deliveries/s "
             "| rooms of 10: highest rate held, msg/s per client | KB per idle connection |",
             "|---|---:|---:|---:|---:|"]

    def none_held(mine: dict[str, float | None], key: str) -> bool:
        """A rate this target ran the scenario for without holding any step."""
        return (key.endswith("rate") and mine[key] is None
                and bool(mine[key.split("_")[0] + "_ran"]))

    def show(key: str, target: str, digits: int = 0, lower: bool = False) -> str:
        value = figures[target][key]
        if value is None:
            return "none held" if none_held(figures[target], key) else ""
        # Rates as stepped (0.5 stays 0.5); other figures rounded to `digits`.
        text = f"{value:g}" if key.endswith("rate") else f"{value:,.{digits}f}"
        other = base[key] if base else None
        if other and not target.startswith("python-socketio"):
            text += f" ({value / other:.1f}x)" if not lower else f" ({value / other:.2f}x)"
        elif base and none_held(base, key):
            text += " (baseline: none held)"  # above any ratio: it holds no step at all
        return text

    for target in targets:
        if not any(figures[target].values()):
            continue  # the herd alone (the take-over restart): in the herd's table
        lines.append(f"| {target} | {show('fanout_rate', target)} | {show('fanout_peak', target)} "
                     f"| {show('rooms_rate', target)} | {show('kb', target, 1, lower=True)} |")
    one = [row for row in ok if row["target"] == "Roomcast, 1 process"]
    two = {(row["scenario"], row["rate"]): row for row in ok
           if row["target"].startswith("Roomcast, 2")}
    pairs = []
    for row in one:
        other = two.get((row["scenario"], row["rate"]))
        if other is None or row["scenario"] in ("connect", "herd"):
            continue
        p1 = row["report"]["delivery"]["latency_ms"]["p99"]
        p2 = other["report"]["delivery"]["latency_ms"]["p99"]
        pairs.append(f"| {row['case']} | {p1:,.1f} | {p2:,.1f} | {p2 / p1:.2f}x |")
    if pairs:
        lines += ["", "Two processes over Redis against one process, same case:", "",
                  "| case | p99 one process, ms | p99 two processes, ms | ratio |",
                  "|---|---:|---:|---:|", *pairs]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    return {
        "uname": " ".join((*platform.uname()[:3], platform.uname().machine)),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "python-socketio": version("python-socketio"),
        "uvicorn": version("uvicorn"),
        "pinning": "servers on CPU 0, load on CPU 1" if pinned(0) else "none (no taskset)",
        # Other work on the machine shows here; figures from a busy machine are noisy.
        "load average at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def render(raw: dict[str, Any]) -> str:
    return markdown(raw["rows"], raw["machine"], raw["header"]) + summary(raw["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="200 clients, 3 s per case, fewer rates (CI-sized)")
    parser.add_argument("--clients", type=int, help="clients per case (default 1000)")
    parser.add_argument("--duration", type=float, help="seconds per case (default 10)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    parser.add_argument("--only", choices=["baseline", "one", "takeover", "two", "node"],
                        action="append",
                        help="run only these targets (default: all; takeover is one process "
                             "restarted with `roomcast serve --take-over`, in the herd only)")
    parser.add_argument("--scenario", choices=["connect", "fanout", "rooms", "herd"],
                        action="append",
                        help="run only these scenarios (default all)")
    parser.add_argument("--memory-clients", type=int,
                        help="connections held to measure memory per idle connection "
                             "(default 5000; 200 with --quick)")
    parser.add_argument("--herd-clients", type=int,
                        help="clients in the reconnect herd (default 5000; 200 with --quick)")
    parser.add_argument("--herd-backoff", choices=["client", "load"], default="client",
                        help="the herd's reconnection delays: the official client's defaults "
                             "(default) or the load tool's (at once, then 0.125 s doubling: "
                             "the server's part alone)")
    parser.add_argument("--room-rate", type=float, action="append", metavar="RATE",
                        help="a rate per client for the rooms case (repeatable; default the "
                             "stepped rates)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="only write the table again from a run's results.json")
    args = parser.parse_args()
    if args.render:
        text = render(json.loads(args.render.read_text()))
        args.out.write_text(text)
        print(text)
        return 0
    clients = args.clients or (200 if args.quick else 1000)
    duration = args.duration or (3.0 if args.quick else 10.0)
    memory_clients = args.memory_clients or (200 if args.quick else 5000)
    herd_clients = args.herd_clients or (200 if args.quick else 5000)
    compile_tree()  # the herd's restart starts from bytecode, as a deployed image does
    people = People.of(clients, memory_clients, herd_clients)
    starters: dict[str, Callable[[ExitStack, Path], Any]] = {
        "baseline": baseline, "node": node,
        "one": lambda stack, work: roomcast_one(stack, work, people),
        "takeover": lambda stack, work: roomcast_one(stack, work, people, take_over=True),
        "two": lambda stack, work: roomcast_two(stack, work, people)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="roomcast-bench-") as tmp:
        work = Path(tmp)
        for key in args.only or ["baseline", "one", "takeover", "two", "node"]:
            with ExitStack() as stack:
                try:
                    target = stack.enter_context(starters[key](stack, work))
                except RuntimeError as exc:
                    rows.append({"target": key, "case": "start", "status": f"not run: {exc}"})
                    continue
                for case in cases(args.quick, clients, duration, memory_clients,
                                  herd_clients, args.herd_backoff, args.room_rate):
                    if args.scenario and case.scenario not in args.scenario:
                        continue
                    if key == "takeover" and case.scenario != "herd":
                        continue  # its other cases would be `one`'s again
                    print(f"{target.name}: {case.label} ...", file=sys.stderr, flush=True)
                    rows.append(run_case(target, case, work))
    reproduce = ["python", "benchmarks/run.py", *(["--quick"] if args.quick else []),
                 "--clients", str(clients), "--duration", f"{duration:g}",
                 "--memory-clients", str(memory_clients), "--herd-clients", str(herd_clients),
                 *(["--herd-backoff", "load"] if args.herd_backoff == "load" else []),
                 *(a for t in args.only or [] for a in ("--only", t)),
                 *(a for c in args.scenario or [] for a in ("--scenario", c))]
    header = (f"# Roomcast benchmarks ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
              f"\n\nReproduce: `{shlex.join(reproduce)}`")
    # The raw rows first: a table that fails to render loses no measurement.
    raw = {"header": header, "machine": machine(), "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    text = render(raw)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
