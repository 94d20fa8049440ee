"""Scenario files: YAML read with its line numbers, checked whole before anything connects.

Every problem is reported as `file:line: what is wrong`, all of them at once
(`ScenarioError.problems`). The reference is docs/load.md ("Scenario files").
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from load.flow.model import Delivery, Phase, Scenario, StopWhen, UserKind
from load.flow.reader import Fail, Reader, ScenarioError, variables
from load.flow.steps import steps
from load.flow.template import FUNCTIONS, names_in

T = TypeVar("T")

BUILTIN_NAMES = {"user", "row", "iteration"}
MAX_ROWS = 1_000_000


TOP = {"name", "target", "seed", "variables", "data", "users", "phases", "max_users", "stop",
       "delivery", "grace"}


def load_file(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(str(path), [(0, f"cannot read it: {exc.strerror or exc}")]) from None
    return load_text(text, str(path), base_dir=path.parent)


def load_text(text: str, source: str = "<scenario>", *, base_dir: Path | None = None,
              rows: list[dict[str, str]] | None = None) -> Scenario:
    """Read and check a scenario. `rows` stands in for the data file (a load agent gets the
    controller's rows, not the file)."""
    reader = Reader(source, base_dir)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [(line, f"not valid YAML: {problem}")]) from None
    if root is None:
        raise ScenarioError(source, [(0, "the file is empty")])
    try:
        scenario = _scenario(reader, root, rows)
    except Fail:
        scenario = None
    _check_names(reader, scenario)
    if reader.problems or scenario is None:
        raise ScenarioError(source, reader.problems)
    return scenario


def _scenario(r: Reader, root: yaml.Node, rows: list[dict[str, str]] | None) -> Scenario:
    top = r.mapping(root, "the scenario", TOP)
    for required in ("users", "phases"):
        if required not in top:
            r.fail(root, f"the scenario needs `{required}`")
    url, path = "http://127.0.0.1:8000", "/socket.io/"
    if "target" in top:
        target = r.attempt(r.mapping, top["target"], "target", {"url", "path"}) or {}
        if "url" in target:
            url = r.attempt(_url, r, target["url"]) or url
        if "path" in target:
            path = r.attempt(r.text, target["path"], "target.path") or path
    names: dict[str, Any] = {}
    if "variables" in top:
        names = r.attempt(variables, r, top["variables"]) or {}
    data_rows = tuple(rows) if rows is not None else ()
    if "data" in top and rows is None:
        data_rows = tuple(r.attempt(_data, r, top["data"]) or ())
    kinds = tuple(r.attempt(_kinds, r, top["users"]) or ()) if "users" in top else ()
    phases = tuple(r.attempt(_phases, r, top["phases"]) or ()) if "phases" in top else ()
    seed = int(r.attempt(r.number, top["seed"], "seed", lo=-2**62, integer=True) or 0) \
        if "seed" in top else 0
    max_users = None
    if "max_users" in top:
        value = r.attempt(r.number, top["max_users"], "max_users", lo=1, integer=True)
        max_users = int(value) if value else None
    stop = r.attempt(_stop, r, top["stop"]) if "stop" in top else None
    delivery = tuple(r.attempt(_delivery, r, top["delivery"]) or ()) \
        if "delivery" in top else ()
    grace = r.attempt(r.number, top["grace"], "grace") if "grace" in top else None
    name = r.attempt(r.text, top["name"], "name") if "name" in top else None
    if r.problems:
        raise Fail()
    return Scenario(kinds=kinds, phases=phases, url=url, path=path, name=name or "scenario",
                    seed=seed, variables=names, rows=data_rows, max_users=max_users,
                    stop=stop or StopWhen(), delivery=delivery,
                    grace=5.0 if grace is None else grace)


def _url(r: Reader, node: yaml.Node) -> str:
    url = r.text(node, "target.url")
    if not re.match(r"^(https?|wss?)://[^/\s]+", url):
        raise r.fail(node, f"target.url must be http(s)://host[:port], got {url!r}")
    return url.rstrip("/")


def _data(r: Reader, node: yaml.Node) -> list[dict[str, str]]:
    spec = r.mapping(node, "data", {"file"}) if isinstance(node, yaml.MappingNode) else \
        {"file": node}
    if "file" not in spec:
        raise r.fail(node, "data needs `file` (a CSV file with a header row)")
    name = r.text(spec["file"], "data.file")
    path = (r.base_dir or Path.cwd()) / name
    try:
        with path.open(newline="") as handle:
            rows = []
            for row in csv.DictReader(handle):
                rows.append(dict(row))
                if len(rows) > MAX_ROWS:
                    raise r.fail(spec["file"], f"data file {name} has over {MAX_ROWS} rows")
    except OSError as exc:
        raise r.fail(spec["file"], f"cannot read data file {name}: {exc.strerror}") from None
    except csv.Error as exc:
        raise r.fail(spec["file"], f"data file {name} is not valid CSV: {exc}") from None
    if not rows:
        raise r.fail(spec["file"], f"data file {name} has no rows below its header")
    return rows


def _items(r: Reader, node: yaml.Node, empty: str,
           parse: Callable[[Reader, yaml.Node, int], T | None]) -> list[T]:
    """Each item of a non-empty YAML list parsed (numbered from 1); every failing item is
    reported, not only the first."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, empty)
    parsed = (r.attempt(parse, r, item, number) for number, item in enumerate(node.value, 1))
    return [item for item in parsed if item is not None]


def _kinds(r: Reader, node: yaml.Node) -> list[UserKind]:
    return _items(r, node, "users must be a list of user kinds ({name, weight, flow})", _kind)


def _kind(r: Reader, item: yaml.Node, number: int) -> UserKind | None:
    spec = r.mapping(item, "a user kind", {"name", "weight", "flow"})
    name = r.attempt(r.text, spec["name"], "name") if "name" in spec else f"user{number}"
    weight = r.attempt(r.number, spec["weight"], "weight", above=True) \
        if "weight" in spec else 1.0
    if "flow" not in spec:
        raise r.fail(item, "a user kind needs `flow`, its list of steps")
    flow = r.attempt(steps, r, spec["flow"], "flow")
    if name and weight and flow is not None:
        return UserKind(name, tuple(flow), weight)
    return None


def _phases(r: Reader, node: yaml.Node) -> list[Phase]:
    return _items(r, node, "phases must be a non-empty list", _phase)


def _phase(r: Reader, item: yaml.Node, number: int) -> Phase:
    f = r.mapping(item, "a phase", {"name", "duration", "arrival_rate", "users", "ramp_to"})
    if "duration" not in f or ("arrival_rate" in f) == ("users" in f):
        raise r.fail(item, "a phase needs `duration` and one of `arrival_rate` (open model: "
                     "users started per second) or `users` (closed model: users at once)")
    return Phase(
        duration=r.number(f["duration"], "duration", above=True),
        arrival_rate=r.number(f["arrival_rate"], "arrival_rate") if "arrival_rate" in f else None,
        users=int(r.number(f["users"], "users", integer=True)) if "users" in f else None,
        ramp_to=r.number(f["ramp_to"], "ramp_to", integer="users" in f) if "ramp_to" in f
        else None,
        name=r.text(f["name"], "name") if "name" in f else f"phase {number}")


def _stop(r: Reader, node: yaml.Node) -> StopWhen:
    f = r.mapping(node, "stop", {"error_rate", "p99", "min_samples"})
    rate = r.number(f["error_rate"], "stop.error_rate") if "error_rate" in f else None
    if rate is not None and rate > 1:
        raise r.fail(f["error_rate"], "stop.error_rate is a fraction (0.05 for 5%)")
    p99 = r.number(f["p99"], "stop.p99") * 1000.0 if "p99" in f else None
    samples = int(r.number(f["min_samples"], "stop.min_samples", integer=True)) \
        if "min_samples" in f else 20
    return StopWhen(rate, p99, samples)


def _delivery(r: Reader, node: yaml.Node) -> list[Delivery]:
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out = []
    for item in items:
        f = r.mapping(item, "delivery", {"event", "ts", "seq", "sender"})
        if "event" not in f:
            raise r.fail(item, "delivery needs `event` (the event whose payload carries ts/seq)")

        def field(key: str, f: dict[str, yaml.Node] = f) -> str | None:
            if key not in f:
                return {"ts": "ts", "seq": "seq", "sender": "from"}[key]
            value = r.value(f[key])
            return None if value is None else r.text(f[key], f"delivery.{key}")

        out.append(Delivery(r.text(f["event"], "delivery.event"), field("ts"), field("seq"),
                            field("sender")))
    return out


def _check_names(r: Reader, scenario: Scenario | None) -> None:
    """Every name a template reads must be a variable, a capture, or a built-in name."""
    known = BUILTIN_NAMES | r.captures | (set(scenario.variables) if scenario else set())
    for line, compiled in r.templates:
        for name, column in sorted(names_in(compiled)):
            if name not in known and name not in FUNCTIONS:
                r.problems.append((line, f"template: unknown name {name!r} (column {column}); "
                                   "names are variables, captures, user, row and iteration"))
    if scenario is not None and not scenario.rows:
        for line, compiled in r.templates:
            if any(name == "row" for name, _ in names_in(compiled)):
                r.problems.append((line, "template reads `row` but the scenario has no `data` "
                                   "file"))
