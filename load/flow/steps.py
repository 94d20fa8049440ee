"""The steps of a user kind's flow, read from YAML (see docs/load.md, "Scenario reference")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from load.flow.model import (
    Answer,
    Connect,
    Disconnect,
    Emit,
    Expect,
    Loop,
    Reconnect,
    SetNames,
    Step,
    Think,
)
from load.flow.reader import Reader, line_of, variables
from load.flow.template import Template

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


def steps(r: Reader, node: yaml.Node, what: str) -> list[Step]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise r.fail(node, f"{what} must be a non-empty list of steps")
    steps = []
    for item in node.value:
        step = r.attempt(_step, r, item)
        if step is not None:
            steps.append(step)
    return steps


def _step(r: Reader, node: yaml.Node) -> Step:
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
    line = line_of(node)
    return _BUILD[kind](r, body, line)


def _fields(r: Reader, body: yaml.Node | None, kind: str) -> dict[str, yaml.Node]:
    if body is None or (isinstance(body, yaml.ScalarNode) and r.value(body) is None):
        return {}
    return r.mapping(body, f"the {kind} step", STEP_KEYS[kind])


def _connect(r: Reader, body: yaml.Node | None, line: int) -> Step:
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


def _answer(r: Reader, f: dict[str, yaml.Node], default_within: float) -> Answer:
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


def _ack(r: Reader, node: yaml.Node) -> Answer:
    if isinstance(node, yaml.ScalarNode) and r.value(node) is True:
        return Answer()
    return _answer(r, r.mapping(node, "ack", {"within", "match", "capture"}), 5.0)


def _emit(r: Reader, body: yaml.Node | None, line: int) -> Step:
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


def _room(r: Reader, body: yaml.Node | None, line: int, kind: str) -> Step:
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


def _expect(r: Reader, body: yaml.Node | None, line: int) -> Step:
    f = _fields(r, body, "expect")
    if "event" not in f:
        raise r.fail(line, "expect needs `event`")
    event = r.text(f["event"], "event")
    return Expect(event=event, answer=_answer(r, f, 5.0),
                  name=r.text(f["name"], "name") if "name" in f else f"expect:{event}",
                  line=line)


def _think(r: Reader, body: yaml.Node | None, line: int) -> Step:
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


def _loop(r: Reader, body: yaml.Node | None, line: int) -> Step:
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
    return Loop(steps=tuple(steps(r, f["steps"], "loop.steps")), count=count, while_=while_,
                max=most, line=line)


def _set(r: Reader, body: yaml.Node | None, line: int) -> Step:
    if body is None:
        raise r.fail(line, "set needs a mapping of names to values")
    values = variables(r, body)
    r.captures.update(values)
    return SetNames(values, line)


_BUILD: dict[str, Callable[[Reader, yaml.Node | None, int], Step]] = {
    "connect": _connect, "emit": _emit, "expect": _expect, "think": _think, "loop": _loop,
    "join": lambda r, b, line: _room(r, b, line, "join"),
    "leave": lambda r, b, line: _room(r, b, line, "leave"),
    "set": _set,
    "disconnect": lambda r, b, line: Disconnect(line),
    "reconnect": lambda r, b, line: Reconnect(
        r.number(_fields(r, b, "reconnect")["timeout"], "timeout", above=True)
        if b is not None and "timeout" in _fields(r, b, "reconnect") else 10.0, line),
}
