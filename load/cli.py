"""`roomcast load`: load scenarios against a Socket.IO server.

Exit codes: 0 done (and every --slo met), 1 an --slo objective missed (or not measurable),
2 usage error or a setup the server refused (sign-in, rooms), 3 the run failed (a scenario
raised, a load process died, or the run overran its time bound).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from load import report as reporting
from load import roomcast, runner, slo
from load.contract import GenericWire, Wire
from load.flow import cli as flow_cli
from load.progress import ProgressLine
from load.scenarios.base import Options
from load.scrape import scrape, summarize

SCENARIO_HELP = {
    "connect": ("a connect storm at a controlled rate; connect latency and failures",
                "connections opened per second, all processes together", 200.0),
    "fanout": ("one publisher, N listeners in one room, a fixed publish rate; deliveries per "
               "second and delivery latency", "messages published per second", 10.0),
    "rooms": ("many small rooms where every client talks (a busy set of meetings)",
              "messages per second sent by each client", 1.0),
    "presence": ("Roomcast: join/leave churn in one meeting; time until every member sees "
                 "each change", "presence changes (a leave, then a rejoin) per second", 2.0),
    "recovery": ("Roomcast: listeners drop and reconnect while a publisher sends, and must "
                 "receive what they missed, counted by offset", "messages published per second",
                 10.0),
    "herd": ("clients in rooms are all dropped at once (the server restarted, or one of its "
             "processes killed, by whoever runs it: see --ready-file) and come back, rejoining "
             "with `since`; time until all are back, per-client latency, messages missed",
             "messages sent per second, all rooms together", 200.0),
    "jobs": ("Roomcast: watchers subscribe to job rooms while real ingestion jobs run; "
             "progress delivery under load", "CSV uploads (jobs started) per second", 0.5),
}
ROOMCAST_ONLY = ("presence", "recovery", "jobs")
ONE_PROCESS = ("presence", "jobs", "herd")
EXIT_OK, EXIT_SLO, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(Exception):
    """Bad options: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomcast load",
        description="Drive many Socket.IO clients through a scenario and report connect "
        "latency, delivery latency, deliveries per second, losses and errors. Scenario files "
        "for any Socket.IO application: `roomcast load run FILE.yaml` (also `agent` and "
        "`compare`; each has --help).",
        epilog="Exit codes: 0 done (every --slo met), 1 an --slo objective missed or not "
        "measurable, 2 usage error or refused setup, 3 the run failed.",
    )
    scenarios = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name, (summary, rate_help, rate_default) in SCENARIO_HELP.items():
        sub = scenarios.add_parser(name, help=summary, description=summary + ".")
        _common(sub)
        sub.add_argument("--rate", type=float, default=rate_default,
                         help=f"{rate_help} (default {rate_default:g})")
        if name == "herd":
            sub.add_argument("--ready-file", type=Path, metavar="PATH",
                             help="written once every client is in its room and messages "
                             "flow: the moment to restart the server or kill a process")
            sub.add_argument("--backoff", choices=["client", "load"], default="client",
                             help="reconnection delays: the official socket.io-client's "
                             "defaults (0.5-1.5 s before the first attempt, doubling to 5 s; "
                             "default) or the load tool's (at once, then 0.125-0.25 s, "
                             "doubling)")
        if name in ("rooms", "herd"):
            sub.add_argument("--room-size", type=int, default=10,
                             help="clients per room (default 10)")
        if name in ("presence", "recovery"):
            sub.add_argument("--offline", type=float, default=1.0,
                             help="seconds a client stays away before it rejoins (presence) "
                             "or reconnects (recovery) (default 1)")
        if name == "jobs":
            sub.add_argument("--rows", type=int, default=2000,
                             help="rows in each uploaded CSV (default 2000)")
        if name == "recovery":
            sub.add_argument("--drop-rate", type=float, default=5.0,
                             help="listeners dropped per second, all processes together "
                             "(default 5); they reconnect to the next --url in turn")
        if name in ("fanout", "rooms"):
            sub.add_argument("--reconnect", action="store_true",
                             help="reconnect a client the server dropped, with backoff, and "
                             "rejoin its room (with `since` = the last offset it processed, "
                             "on Roomcast); counted as reconnects")
            sub.add_argument("--generic", action="store_true",
                             help="use the generic join/broadcast contract (the default "
                             "unless a Roomcast option is given); see docs/load.md")
    return parser


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--url", action="append", default=[],
                     help="server base URL, Socket.IO at /socket.io/ (default "
                     "http://127.0.0.1:8000); repeat for several processes of one deployment: "
                     "clients spread over them, REST setup and --metrics use the first")
    sub.add_argument("--clients", type=int, default=100, help="clients (default 100)")
    sub.add_argument("--duration", type=float, default=10.0,
                     help="seconds of measured load, after connecting (default 10)")
    sub.add_argument("--procs", type=int, default=1,
                     help="load processes sharing the clients (default 1); with more than "
                     "one, latencies use the wall clock")
    sub.add_argument("--connect-rate", type=float, default=500.0,
                     help="connections per second while setting up (default 500)")
    sub.add_argument("--connect-timeout", type=float, default=30.0,
                     help="seconds one connection may take (default 30)")
    sub.add_argument("--drain", type=float, default=5.0,
                     help="seconds to wait for late deliveries after the last send (default 5)")
    sub.add_argument("--token", help="access token sent as the connect auth {token: ...}")
    roomcast = sub.add_argument_group(
        "Roomcast", "sign in through Roomcast's REST side and use its wire contract "
        "(meeting rooms, `message` events with offsets); any of these selects it")
    roomcast.add_argument("--roomcast", action="store_true",
                          help="use Roomcast's contract (with --token for the credentials)")
    roomcast.add_argument("--email", help="sign in as this user (with --password)")
    roomcast.add_argument("--password", help="password for --email")
    roomcast.add_argument("--tokens-file", type=Path, metavar="PATH",
                          help="access tokens, one per line, each optionally followed by its "
                          "user's id; clients take them in turn, and every token's user is "
                          "added to the project the run creates")
    roomcast.add_argument("--register", type=int, default=0, metavar="N",
                          help="register N fresh users and sign them in (mind the server's "
                          "REST rate limit per IP)")
    roomcast.add_argument("--project", metavar="ID",
                          help="jobs: upload into this project instead of a fresh one")
    roomcast.add_argument("--room", action="append", default=[], metavar="ROOM",
                          help="use this room (e.g. meeting:ID) instead of creating a project "
                          "and meetings; repeat for several")
    sub.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    sub.add_argument("--png", type=Path, metavar="PATH",
                     help="write latency-over-time and throughput charts here")
    sub.add_argument("--slo", metavar="OBJECTIVES",
                     help="e.g. 'p99<100ms,max<1s,lost==0': exit 1 when one is missed")
    sub.add_argument("--metrics", action="store_true",
                     help="scrape the server's /metrics before and after the run")
    sub.add_argument("--progress", action="store_true",
                     help="show the live progress line even when stderr is not a terminal")


def options_of(args: argparse.Namespace) -> Options:
    for name in ("clients", "procs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    for name in ("duration", "rate", "connect_rate", "connect_timeout"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if args.drain < 0:
        raise UsageError("--drain must not be negative")
    urls = [url.rstrip("/") for url in args.url] or ["http://127.0.0.1:8000"]
    room_size = getattr(args, "room_size", 10)
    if room_size < 2:
        raise UsageError("--room-size must be at least 2")
    extra: dict[str, Any] = {
        "offline": getattr(args, "offline", 1.0), "drop_rate": getattr(args, "drop_rate", 5.0),
        "rows": getattr(args, "rows", 2000), "ready_file": getattr(args, "ready_file", None),
        "backoff": getattr(args, "backoff", "load")}
    for name in ("offline", "drop_rate"):
        if extra[name] < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    if extra["rows"] < 1:
        raise UsageError("--rows must be at least 1")
    _check_scenario(args)
    return Options(
        extra=extra, scenario=args.scenario, url=urls[0], more_urls=tuple(urls[1:]),
        clients=args.clients,
        duration=args.duration, procs=args.procs, rate=args.rate,
        connect_rate=args.connect_rate, room_size=room_size,
        connect_timeout=args.connect_timeout, drain=args.drain,
        reconnect=(getattr(args, "reconnect", False)
                   or args.scenario in ("recovery", "herd")),
    )


def _check_scenario(args: argparse.Namespace) -> None:
    """What a scenario needs that the options alone can tell, before signing anyone in."""
    if args.scenario in ROOMCAST_ONLY and not wants_roomcast(args):
        raise UsageError(f"{args.scenario} runs against Roomcast only: give --register N, "
                         "--tokens-file, --email/--password or --roomcast with --token")
    if args.scenario in ONE_PROCESS and args.procs != 1:
        raise UsageError(f"{args.scenario} runs in one process (one clock for an event and "
                         "its echoes)")
    if args.scenario == "herd" and args.rate < 2:
        raise UsageError("herd sends in half-second steps: --rate must be at least 2")
    if args.scenario == "jobs" and args.room:
        raise UsageError("jobs uploads into a project, not into rooms: give --project ID, or "
                         "neither to have a project created")
    if args.scenario == "presence" and not args.tokens_file:
        users = args.register or 1  # --email/--password and --token are one user
        if users < args.clients:
            raise UsageError(_one_user_per_client(args.clients, users))


def _one_user_per_client(clients: int, users: int) -> str:
    return (f"presence needs one user per client (presence counts users, not connections): "
            f"{clients} clients but {users} distinct user(s); use --register {clients} or a "
            f"--tokens-file with {clients} tokens of different users")


def wants_roomcast(args: argparse.Namespace) -> bool:
    if getattr(args, "generic", False):
        return False
    return bool(args.roomcast or args.email or args.tokens_file or args.register or args.room)


def wire_of(args: argparse.Namespace, opts: Options) -> Wire:
    """The generic contract, or Roomcast's: signed in, with its meeting rooms ready."""
    if not wants_roomcast(args):
        return GenericWire(token=args.token)
    access = roomcast.sign_in(
        opts.url, token=args.token, tokens_file=args.tokens_file, email=args.email,
        password=args.password, register=args.register,
    )
    if opts.scenario == "presence":
        users = access.users_for(opts.clients)
        if len(set(users)) < opts.clients:
            raise UsageError(_one_user_per_client(opts.clients, len(set(users))))
    rooms: list[str] = list(args.room)
    project_id = args.project
    needed = {"fanout": 1, "presence": 1, "recovery": 1, "jobs": 0,
              "rooms": math.ceil(opts.clients / opts.room_size),
              "herd": math.ceil(opts.clients / opts.room_size)}.get(opts.scenario)
    if needed is not None and not rooms and not (opts.scenario == "jobs" and project_id):
        project_id, rooms = roomcast.meeting_rooms(opts.url, access, needed)
    return roomcast.RoomcastWire(access, rooms, project_id)


def main(argv: Sequence[str]) -> int:
    if argv[:1] and argv[0] in flow_cli.COMMANDS:
        return flow_cli.main(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or EXIT_OK)
    try:
        opts = options_of(args)
        objectives = slo.parse(args.slo, opts.scenario) if args.slo else []
        wire = wire_of(args, opts)
    except (UsageError, slo.SloSyntaxError, roomcast.SetupFailed, OSError,
            httpx.HTTPError) as exc:
        print(f"roomcast load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return execute(args, opts, wire, objectives)


def execute(
    args: argparse.Namespace, opts: Options, wire: Wire, objectives: list[slo.Objective],
) -> int:
    show = args.progress or sys.stderr.isatty()
    line = ProgressLine(sys.stderr) if show else None
    before = scrape(opts.url) if args.metrics else None
    began = time.monotonic()
    stats, clock = runner.run(runner.SCENARIOS[opts.scenario], opts, wire,
                              progress=line.update if line else None)
    elapsed = time.monotonic() - began
    if line is not None:
        line.finish()
    server = summarize(before, scrape(opts.url)) if args.metrics else None
    result = reporting.build(opts, target=wire.name, stats=stats, clock=clock,
                             elapsed=elapsed, server=server)
    result["slo"] = slo.evaluate(objectives, result)
    result["slo_ok"] = all(item["ok"] for item in result["slo"])
    print(reporting.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.png:
        reporting.write_png(result, args.png)
    if result["failures"]:
        return EXIT_FAILED
    return EXIT_OK if result["slo_ok"] else EXIT_SLO
