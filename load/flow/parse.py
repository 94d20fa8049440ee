"""Scenario files: YAML read with its line numbers, checked whole before anything connects.

Every problem is reported as `file:line: what is wrong`, all of them at once
(`ScenarioError.problems`). The reference is docs/load.md ("Scenario files").
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from load.flow.model import (
    Answer,
    Connect,
    Delivery,
    Disconnect,
    Emit,
    Expect,
    Loop,
    Phase,
    Reconnect,
    Scenario,
    SetNames,
    Step,
    StopWhen,
    Think,
    UserKind,
)
from load.flow.template import (
    FUNCTIONS,
    Template,
    TemplateError,
    compile_text,
    compile_value,
    names_in,
)

BUILTIN_NAMES = {"user", "row", "iteration"}
MAX_ROWS = 1_000_000


class ScenarioError(ValueError):
    """A scenario that cannot run; `problems` are (line, message), line 0 for the file."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = sorted(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}"
                for line, message in self.problems]


class _Fail(Exception):
    pass


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.problems: list[tuple[int, str]] = []
        self.constructor = yaml.SafeLoader("")
        self.captures: set[str] = set()
        self.templates: list[tuple[int, Any]] = []

    def fail(self, node: yaml.Node | int, message: str) -> _Fail:
        self.problems.append((node if isinstance(node, int) else _line(node), message))
        return _Fail()

    def value(self, node: yaml.Node) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str, known: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            # Reported, and the rest read on: every problem of a file at once.
            if not isinstance(key, str) or key not in known:
                self.fail(key_node, f"unknown key {key!r} in {what} (known: "
                          f"{', '.join(sorted(known))})")
                continue
            if key in out:
                self.fail(key_node, f"{key!r} given twice in {what}")
                continue
            out[key] = value_node
        return out

    def number(self, node: yaml.Node, what: str, *, lo: float = 0.0, above: bool = False,
               integer: bool = False) -> float:
        value = self.value(node)
        if isinstance(value, str):
            value = _seconds(value)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or value < lo or (above and value <= lo):
            kind = "an integer" if integer else "a number"
            bound = f"above {lo:g}" if above else f"at least {lo:g}"
            raise self.fail(node, f"{what} must be {kind} {bound}, got {self.value(node)!r}")
        return float(value)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value:
            raise self.fail(node, f"{what} must be a non-empty string")
        return value

    def template(self, node: yaml.Node) -> Any:
        try:
            compiled = compile_value(self.value(node))
        except TemplateError as exc:
            raise self.fail(node, f"template: {exc} (column {exc.column} of the text)") from None
        self.templates.append((_line(node), compiled))
        return compiled

    def attempt(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _Fail:
            return None


def _seconds(text: str) -> Any:
    """`2s`, `500ms`, `1.5` (seconds) as seconds; anything else unchanged."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*", text)
    if match is None:
        return text
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match[2]]


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
    reader = _Reader(source, base_dir)
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
    except _Fail:
        scenario = None
    _check_names(reader, scenario)
    if reader.problems or scenario is None:
        raise ScenarioError(source, reader.problems)
    return scenario


def _scenario(r: _Reader, root: yaml.Node, rows: list[dict[str, str]] | None) -> Scenario:
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
    variables: dict[str, Any] = {}
    if "variables" in top:
        variables = r.attempt(_variables, r, top["variables"]) or {}
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
        raise _Fail()
    return Scenario(kinds=kinds, phases=phases, url=url, path=path, name=name or "scenario",
                    seed=seed, variables=variables, rows=data_rows, max_users=max_users,
                    stop=stop or StopWhen(), delivery=delivery,
                    grace=5.0 if grace is None else grace)


def _url(r: _Reader, node: yaml.Node) -> str:
    url = r.text(node, "target.url")
    if not re.match(r"^(https?|wss?)://[^/\s]+", url):
        raise r.fail(node, f"target.url must be http(s)://host[:port], got {url!r}")
    return url.rstrip("/")


def _variables(r: _Reader, node: yaml.Node) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise r.fail(node, "variables must be a mapping of names to values")
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = r.value(key_node)
        if not isinstance(key, str) or not key.isidentifier():
            raise r.fail(key_node, f"variable name {key!r} must be an identifier")
        out[key] = r.template(value_node)
    r.captures.update(out)  # names templates may read
    return out


def _data(r: _Reader, node: yaml.Node) -> list[dict[str, str]]:
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


def _kinds(r: _Reader, node: yaml.Node) -> list[UserKind]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, "users must be a list of user kinds ({name, weight, flow})")
    kinds: list[UserKind] = []
    for item in node.value:
        kind = r.attempt(_kind, r, item, len(kinds) + 1)
        if kind is not None:
            kinds.append(kind)
    return kinds


def _kind(r: _Reader, item: yaml.Node, number: int) -> UserKind | None:
    spec = r.mapping(item, "a user kind", {"name", "weight", "flow"})
    name = r.attempt(r.text, spec["name"], "name") if "name" in spec else f"user{number}"
    weight = r.attempt(r.number, spec["weight"], "weight", above=True) \
        if "weight" in spec else 1.0
    if "flow" not in spec:
        raise r.fail(item, "a user kind needs `flow`, its list of steps")
    steps = r.attempt(_steps, r, spec["flow"], "flow")
    if name and weight and steps is not None:
        return UserKind(name, tuple(steps), weight)
    return None


STEP_KEYS: dict[str, set[str]] = {
    "connect": {"url", "path", "namespace", "auth", "query", "transports", "timeout", "name"},
    "emit": {"event", "data", "args", "ack", "name"},
    "expect": {"event", "match", "within", "capture", "name"},
    "think": {"min", "max"},
    "loop": {"count", "while", "max", "steps"},
    "join": {"room", "event", "data", "ack", "name"},
    "leave": {"room", "event", "data", "ack", "name"},
    "set": set(),
    "disconnect": set(),
    "reconnect": {"timeout"},
}


def _steps(r: _Reader, node: yaml.Node, what: str) -> list[Step]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, f"{what} must be a non-empty list of steps")
    steps = []
    for item in node.value:
        step = r.attempt(_step, r, item)
        if step is not None:
            steps.append(step)
    return steps


def _step(r: _Reader, node: yaml.Node) -> Step:
    if isinstance(node, yaml.ScalarNode) and r.value(node) in ("connect", "disconnect",
                                                                  "reconnect"):
        kind, body = r.value(node), None
    elif isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key_node, body = node.value[0]
        kind = r.value(key_node)
        if kind not in STEP_KEYS:
            raise r.fail(key_node, f"unknown step {kind!r} (steps: {', '.join(STEP_KEYS)})")
    else:
        raise r.fail(node, "a step is one of: " + ", ".join(STEP_KEYS) +
                     " (a mapping with one key, or connect/disconnect/reconnect alone)")
    line = _line(node)
    return _BUILD[kind](r, body, line)


def _fields(r: _Reader, body: yaml.Node | None, kind: str) -> dict[str, yaml.Node]:
    if body is None or (isinstance(body, yaml.ScalarNode) and r.value(body) is None):
        return {}
    return r.mapping(body, f"the {kind} step", STEP_KEYS[kind])


def _connect(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    f = _fields(r, body, "connect")
    if "transports" in f:
        transports = r.value(f["transports"])
        if transports not in (["websocket"], "websocket"):
            raise r.fail(f["transports"], "transports: this client speaks WebSocket only; "
                         "give [websocket] (long-polling is not supported)")
    namespace = r.text(f["namespace"], "namespace") if "namespace" in f else "/"
    if not namespace.startswith("/"):
        raise r.fail(f["namespace"], f"namespace must start with '/', got {namespace!r}")
    return Connect(
        url=r.template(f["url"]) if "url" in f else None,
        path=r.text(f["path"], "path") if "path" in f else None,
        namespace=namespace,
        auth=r.template(f["auth"]) if "auth" in f else None,
        query=r.template(f["query"]) if "query" in f else None,
        timeout=r.number(f["timeout"], "timeout", above=True) if "timeout" in f else 10.0,
        name=r.text(f["name"], "name") if "name" in f else "connect", line=line)


def _answer(r: _Reader, f: dict[str, yaml.Node], default_within: float) -> Answer:
    within = r.number(f["within"], "within", above=True) if "within" in f else default_within
    capture: dict[str, tuple[str, ...]] = {}
    if "capture" in f:
        spec = r.value(f["capture"])
        if not isinstance(spec, dict) or not all(
                isinstance(k, str) and k.isidentifier() and isinstance(v, str | int)
                for k, v in spec.items()):
            raise r.fail(f["capture"], "capture must map names to paths in the answer's first "
                         "argument (e.g. `offset: offset`, `first: items.0`, `all: '*'`)")
        capture = {k: () if v == "*" else tuple(str(v).split(".")) for k, v in spec.items()}
        r.captures.update(capture)
    return Answer(within=within, match=r.template(f["match"]) if "match" in f else None,
                  capture=capture)


def _ack(r: _Reader, node: yaml.Node) -> Answer:
    if isinstance(node, yaml.ScalarNode) and r.value(node) is True:
        return Answer()
    return _answer(r, r.mapping(node, "ack", {"within", "match", "capture"}), 5.0)


def _emit(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    f = _fields(r, body, "emit")
    if "event" not in f:
        raise r.fail(line, "emit needs `event`")
    if "data" in f and "args" in f:
        raise r.fail(f["args"], "emit takes `data` (one argument) or `args` (a list), not both")
    args: tuple[Any, ...] = ()
    if "data" in f:
        args = (r.template(f["data"]),)
    elif "args" in f:
        if not isinstance(f["args"], yaml.SequenceNode):
            raise r.fail(f["args"], "args must be a list")
        args = tuple(r.template(item) for item in f["args"].value)
    event = r.text(f["event"], "event")
    return Emit(event=event, args=args, ack=_ack(r, f["ack"]) if "ack" in f else None,
                name=r.text(f["name"], "name") if "name" in f else f"emit:{event}", line=line)


def _room(r: _Reader, body: yaml.Node | None, line: int, kind: str) -> Step:
    """join/leave: an emit in the app's own terms (default: `join`/`leave` with the room name,
    acked)."""
    f = {"room": body} if isinstance(body, yaml.ScalarNode) else _fields(r, body, kind)
    if "room" not in f:
        raise r.fail(line, f"{kind} needs `room`")
    room = r.template(f["room"])
    event = r.text(f["event"], "event") if "event" in f else kind
    data = r.template(f["data"]) if "data" in f else room
    ack: Answer | None = _ack(r, f["ack"]) if "ack" in f else Answer()
    if "ack" in f and isinstance(f["ack"], yaml.ScalarNode) and r.value(f["ack"]) is False:
        ack = None
    return Emit(event=event, args=(data,), ack=ack, room_change=True,
                name=r.text(f["name"], "name") if "name" in f else kind, line=line)


def _expect(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    f = _fields(r, body, "expect")
    if "event" not in f:
        raise r.fail(line, "expect needs `event`")
    event = r.text(f["event"], "event")
    return Expect(event=event, answer=_answer(r, f, 5.0),
                  name=r.text(f["name"], "name") if "name" in f else f"expect:{event}",
                  line=line)


def _think(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    if isinstance(body, yaml.ScalarNode):
        seconds = r.number(body, "think")
        return Think(seconds, seconds, line)
    f = _fields(r, body, "think")
    if "min" not in f or "max" not in f:
        raise r.fail(line, "think takes seconds (`think: 1.5`) or `min` and `max`")
    low, high = r.number(f["min"], "think.min"), r.number(f["max"], "think.max")
    if high < low:
        raise r.fail(f["max"], "think.max must not be below think.min")
    return Think(low, high, line)


def _loop(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    f = _fields(r, body, "loop")
    if "steps" not in f or ("count" in f) == ("while" in f):
        raise r.fail(line, "loop needs `steps` and one of `count` or `while`")
    count = None
    if "count" in f:
        raw = r.value(f["count"])
        count = r.template(f["count"]) if isinstance(raw, str) else \
            int(r.number(f["count"], "count", integer=True))
    while_ = None
    if "while" in f:
        compiled = r.template(f["while"])
        if not isinstance(compiled, Template | str):
            raise r.fail(f["while"], "while must be a template such as \"{{ more }}\"")
        while_ = compiled
    most = int(r.number(f["max"], "max", lo=1, integer=True)) if "max" in f else 1000
    return Loop(steps=tuple(_steps(r, f["steps"], "loop.steps")), count=count, while_=while_,
                max=most, line=line)


def _set(r: _Reader, body: yaml.Node | None, line: int) -> Step:
    if body is None:
        raise r.fail(line, "set needs a mapping of names to values")
    values = _variables(r, body)
    r.captures.update(values)
    return SetNames(values, line)


_BUILD: dict[str, Callable[[_Reader, yaml.Node | None, int], Step]] = {
    "connect": _connect, "emit": _emit, "expect": _expect, "think": _think, "loop": _loop,
    "join": lambda r, b, line: _room(r, b, line, "join"),
    "leave": lambda r, b, line: _room(r, b, line, "leave"),
    "set": _set,
    "disconnect": lambda r, b, line: Disconnect(line),
    "reconnect": lambda r, b, line: Reconnect(
        r.number(_fields(r, b, "reconnect")["timeout"], "timeout", above=True)
        if b is not None and "timeout" in _fields(r, b, "reconnect") else 10.0, line),
}


def _phases(r: _Reader, node: yaml.Node) -> list[Phase]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, "phases must be a non-empty list")
    phases: list[Phase] = []
    for item in node.value:
        phase = r.attempt(_phase, r, item, len(phases) + 1)
        if phase is not None:
            phases.append(phase)
    return phases


def _phase(r: _Reader, item: yaml.Node, number: int) -> Phase:
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


def _stop(r: _Reader, node: yaml.Node) -> StopWhen:
    f = r.mapping(node, "stop", {"error_rate", "p99", "min_samples"})
    rate = r.number(f["error_rate"], "stop.error_rate") if "error_rate" in f else None
    if rate is not None and rate > 1:
        raise r.fail(f["error_rate"], "stop.error_rate is a fraction (0.05 for 5%)")
    p99 = r.number(f["p99"], "stop.p99") * 1000.0 if "p99" in f else None
    samples = int(r.number(f["min_samples"], "stop.min_samples", integer=True)) \
        if "min_samples" in f else 20
    return StopWhen(rate, p99, samples)


def _delivery(r: _Reader, node: yaml.Node) -> list[Delivery]:
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


def _check_names(r: _Reader, scenario: Scenario | None) -> None:
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


__all__ = ["ScenarioError", "compile_text", "load_file", "load_text"]
