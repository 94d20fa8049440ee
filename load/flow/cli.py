"""`roomcast load run SCENARIO.yaml`, `roomcast load agent`, `roomcast load compare A B`.

Exit codes as for the built-in scenarios: 0 done (every --slo met), 1 an --slo objective
missed or not measurable (compare: a regression), 2 a scenario or option that cannot run
(nothing connected), 3 the run failed (an agent died or failed, the run overran).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from load.flow import gates
from load.flow.controller import NoAgents, control
from load.flow.engine import Engine
from load.flow.meter import Meter
from load.flow.model import Scenario
from load.flow.parse import load_file
from load.flow.reader import ScenarioError
from load.flow.summary import LiveView, build, table
from load.slo import SloSyntaxError

EXIT_OK, EXIT_SLO, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
COMMANDS = ("run", "agent", "compare")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="roomcast load")
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a scenario file against any Socket.IO application",
        description="Run a scenario file (docs/load.md, 'Scenario files'). The file is checked "
        "whole before anything connects.")
    run.add_argument("scenario", type=Path)
    run.add_argument("--url", help="override the scenario's target.url")
    run.add_argument("--procs", type=int, default=1,
                     help="load processes on this machine (default 1)")
    run.add_argument("--redis", metavar="URL",
                     help="coordinate agents through this Redis (start them with "
                     "`roomcast load agent --redis URL`)")
    run.add_argument("--group", default="default",
                     help="with --redis: the agents' group (default `default`)")
    run.add_argument("--agents", type=int, default=1,
                     help="with --redis: how many agents share the load (default 1)")
    run.add_argument("--wait-agents", type=float, default=30.0,
                     help="seconds to wait for the agents to register (default 30)")
    run.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    run.add_argument("--html", type=Path, metavar="PATH",
                     help="write the self-contained HTML report here")
    run.add_argument("--slo", metavar="OBJECTIVES",
                     help="e.g. 'p99<200ms,step.emit:chat.p99<100ms,errors==0': exit 1 on a miss")
    run.add_argument("--progress", action="store_true",
                     help="show the live view even when stderr is not a terminal")
    run.add_argument("--check", action="store_true",
                     help="only check the scenario file, connect nothing")
    agent = commands.add_parser("agent", help="serve as a load agent for a controller")
    agent.add_argument("--redis", required=True, metavar="URL")
    agent.add_argument("--name", help="this agent's name (default host-pid-random)")
    agent.add_argument("--runs", type=int, help="exit after this many runs")
    agent.add_argument("--group", default="default",
                       help="serve controllers of this group only (default `default`)")
    compare = commands.add_parser("compare", help="compare two JSON reports of scenario runs")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    compare.add_argument("--max-regression", type=float, default=10.0, metavar="PCT",
                         help="fail (exit 1) when a step's p99 or p50 grows by more than PCT "
                         "percent, its error rate by more than PCT/100 points, or its rate "
                         "drops by more than PCT percent (default 10)")
    compare.add_argument("--min-ms", type=float, default=1.0,
                         help="ignore latency changes smaller than this (default 1 ms)")
    return top


def main(argv: Sequence[str]) -> int:
    try:
        args = parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or EXIT_OK)
    if args.command == "agent":
        from load.flow.redishub import serve_agent
        from load.runner import new_runner

        with new_runner() as runner:
            runner.run(serve_agent(args.redis, name=args.name, runs=args.runs,
                                   group=args.group))
        return EXIT_OK
    if args.command == "compare":
        from load.flow.compare import compare_files

        return compare_files(args.before, args.after, args.max_regression, args.min_ms)
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    try:
        if args.procs < 1 or args.agents < 1:
            raise ValueError("--procs and --agents must be at least 1")
        scenario = load_file(args.scenario)
        if args.url:
            from dataclasses import replace
            scenario = replace(scenario, url=args.url.rstrip("/"))
        objectives = gates.parse(args.slo) if args.slo else []
    except (ScenarioError, SloSyntaxError, ValueError) as exc:
        print(f"roomcast load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"{args.scenario}: ok ({len(scenario.kinds)} user kinds, {len(scenario.phases)} "
              f"phases, {scenario.duration:g}s)")
        return EXIT_OK
    show = args.progress or sys.stderr.isatty()
    live = LiveView(sys.stderr, scenario, redraw=sys.stderr.isatty()) if show else None
    yaml_text = args.scenario.read_text()
    if args.url:
        yaml_text = _with_url(yaml_text, scenario.url)
    began = time.monotonic()
    try:
        meter, agents, stopped, procs = _execute(args, scenario, yaml_text, live)
    except NoAgents as exc:
        print(f"roomcast load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = build(scenario, meter, source=str(args.scenario),
                   elapsed=time.monotonic() - began, procs=procs, agents=agents,
                   stopped=stopped)
    return finish(report, objectives, json_path=args.json, html_path=args.html)


def _with_url(yaml_text: str, url: str) -> str:
    """The scenario text as agents get it, with the command line's --url in force."""
    import yaml

    data = yaml.safe_load(yaml_text)
    data.setdefault("target", {})["url"] = url
    return str(yaml.safe_dump(data, sort_keys=False))


def _execute(args: argparse.Namespace, scenario: Scenario, yaml_text: str,
             live: LiveView | None) -> tuple[Meter, list[dict[str, Any]], str | None, int]:
    on_second = live.update if live else None
    if args.redis:
        from load.flow.redishub import RedisHub
        from load.runner import new_runner

        async def distributed() -> tuple[Meter, list[dict[str, Any]], str | None]:
            hub = RedisHub(args.redis, args.group)
            try:
                return await control(scenario, hub, yaml_text=yaml_text,
                                     source=str(args.scenario), agents=args.agents,
                                     wait_agents=args.wait_agents, on_second=on_second)
            finally:
                await hub.close()

        with new_runner() as runner:
            meter, agents, stopped = runner.run(distributed())
        return meter, agents, stopped, args.agents
    meter, agents, stopped = execute_scenario(scenario, procs=args.procs, on_second=on_second,
                                              source=str(args.scenario))
    return meter, agents, stopped, args.procs


def execute_scenario(
    scenario: Scenario, *, procs: int = 1, on_second: Callable[[Meter], None] | None = None,
    source: str = "<python>",
) -> tuple[Meter, list[dict[str, Any]], str | None]:
    """Run on this machine: in this process, or through `procs` forked agents (the same
    controller as with Redis, over pipes)."""
    from load.runner import new_runner

    if procs <= 1:
        meter, stopped = run_here(scenario, on_second=on_second)
        return meter, [], stopped
    from load.flow.localhub import LocalHub

    hub = LocalHub(procs)
    try:
        with new_runner() as runner:
            return runner.run(control(scenario, hub, yaml_text=None, source=source,
                                      agents=procs, on_second=on_second))
    finally:
        hub.close()


def run_here(scenario: Scenario, *, on_second: Any = None) -> tuple[Meter, str | None]:
    """Run a scenario in this process; the meter and why it stopped early (or None). Ctrl-C
    ends the run with a report of what was measured until then."""
    from load.runner import new_runner

    start_ns = time.time_ns() + 100_000_000
    meter = Meter(start_ns)
    engine = Engine(scenario, meter, on_second=on_second)
    with new_runner() as runner:
        try:
            runner.run(engine.run(start_ns))
        except KeyboardInterrupt:
            meter.failures.append("interrupted (Ctrl-C): the figures are those measured until "
                                  "then")
            return meter, "interrupted"
    return meter, engine.stopped


def finish(report: dict[str, Any], objectives: list[gates.Gate], *, json_path: Path | None,
           html_path: Path | None) -> int:
    report["slo"] = gates.evaluate(objectives, report)
    report["slo_ok"] = all(item["ok"] for item in report["slo"])
    print(table(report))
    if json_path:
        json_path.write_text(json.dumps(report, indent=1) + "\n")
    if html_path:
        from load.flow.html import write_html

        write_html(report, html_path)
    failed = [f for f in report["failures"] if not f.startswith("stopped early")]
    if failed or not report["connect"]["connected"]:
        return EXIT_FAILED
    if report["stopped"]:
        return EXIT_SLO
    return EXIT_OK if report["slo_ok"] else EXIT_SLO
