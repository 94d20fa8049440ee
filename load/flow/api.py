"""Scenarios in Python, for those who prefer code to YAML: the same steps, phases and report.

    from load.flow.api import arrivals, connect, emit, expect, join, run, scenario, think, user

    chat = scenario(
        url="http://127.0.0.1:8200",
        users=[user("talker", [
            connect(auth={"name": "u{{ user.index }}"}),
            join("lobby"),
            emit("chat", {"room": "lobby", "text": "hi", "ts": "{{ now_ns() }}",
                          "seq": "{{ seq() }}", "from": "{{ user.id }}"},
                 ack={"match": {"ok": True}}),
            think(0.5),
        ])],
        phases=[arrivals(rate=2, duration=5, ramp_to=10), concurrent(users=20, duration=10)],
        delivery=["chat"],
    )
    report = run(chat, slo="p99<200ms,errors==0", html="chat.html")
    assert report["slo_ok"]

Strings hold the same templates as scenario files (`{{ ... }}`), compiled here: a syntax error
raises `TemplateError` at once. `run` returns the JSON report as a dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from load.flow.template import compile_text, compile_value


def _answer(spec: dict[str, Any] | bool | None) -> Answer | None:
    if spec is None or spec is False:
        return None
    if spec is True:
        return Answer()
    capture = {k: () if v == "*" else tuple(str(v).split("."))
               for k, v in spec.get("capture", {}).items()}
    return Answer(within=float(spec.get("within", 5.0)),
                  match=compile_value(spec["match"]) if "match" in spec else None,
                  capture=capture)


def connect(url: str | None = None, *, path: str | None = None, namespace: str = "/",
            auth: Any = None, query: dict[str, Any] | None = None, timeout: float = 10.0,
            name: str = "connect") -> Connect:
    return Connect(compile_value(url), path, namespace, compile_value(auth),
                   compile_value(query), timeout, name)


def emit(event: str, *args: Any, ack: dict[str, Any] | bool | None = None,
         name: str | None = None) -> Emit:
    return Emit(event, tuple(compile_value(a) for a in args), _answer(ack),
                name or f"emit:{event}")


def expect(event: str, *, match: Any = None, within: float = 5.0,
           capture: dict[str, str] | None = None, name: str | None = None) -> Expect:
    answer = _answer({"match": match, "within": within, "capture": capture or {}}
                     if match is not None else {"within": within, "capture": capture or {}})
    assert answer is not None
    return Expect(event, answer, name or f"expect:{event}")


def join(room: str, *, event: str = "join", data: Any = None,
         ack: dict[str, Any] | bool | None = True, name: str = "join") -> Emit:
    payload = compile_value(room if data is None else data)
    return Emit(event, (payload,), _answer(ack), name, room_change=True)


def leave(room: str, *, event: str = "leave", data: Any = None,
          ack: dict[str, Any] | bool | None = True, name: str = "leave") -> Emit:
    return join(room, event=event, data=data, ack=ack, name=name)


def think(low: float, high: float | None = None) -> Think:
    return Think(low, low if high is None else high)


def loop(steps: list[Step], *, count: int | str | None = None, while_: str | None = None,
         max: int = 1000) -> Loop:  # noqa: A002 - the scenario file's word
    if (count is None) == (while_ is None):
        raise ValueError("loop takes count or while_")
    return Loop(tuple(steps), compile_value(count), compile_text(while_) if while_ else None,
                max)


def set_names(**values: Any) -> SetNames:
    return SetNames({k: compile_value(v) for k, v in values.items()})


def disconnect() -> Disconnect:
    return Disconnect()


def reconnect(timeout: float = 10.0) -> Reconnect:
    return Reconnect(timeout)


def user(name: str, steps: list[Step], weight: float = 1.0) -> UserKind:
    return UserKind(name, tuple(steps), weight)


def arrivals(*, rate: float, duration: float, ramp_to: float | None = None,
             name: str = "") -> Phase:
    """Open model: `rate` users start per second (ramping to `ramp_to`)."""
    return Phase(duration, arrival_rate=rate, ramp_to=ramp_to, name=name or "arrivals")


def concurrent(*, users: int, duration: float, ramp_to: int | None = None,
               name: str = "") -> Phase:
    """Closed model: `users` run at once, each starting over when done (ramping to
    `ramp_to`)."""
    return Phase(duration, users=users, ramp_to=None if ramp_to is None else float(ramp_to),
                 name=name or "concurrent")


def scenario(*, users: list[UserKind], phases: list[Phase],
             url: str = "http://127.0.0.1:8000", path: str = "/socket.io/",
             name: str = "scenario", seed: int = 0, variables: dict[str, Any] | None = None,
             rows: list[dict[str, str]] | None = None, max_users: int | None = None,
             stop: StopWhen | None = None, delivery: list[str | Delivery] | None = None,
             grace: float = 5.0) -> Scenario:
    return Scenario(
        kinds=tuple(users), phases=tuple(phases), url=url.rstrip("/"), path=path, name=name,
        seed=seed, variables={k: compile_value(v) for k, v in (variables or {}).items()},
        rows=tuple(rows or ()), max_users=max_users, stop=stop or StopWhen(),
        delivery=tuple(Delivery(d) if isinstance(d, str) else d for d in delivery or ()),
        grace=grace)


def run(scenario: Scenario, *, procs: int = 1, slo: str | None = None,
        json: str | Path | None = None, html: str | Path | None = None,
        quiet: bool = False) -> dict[str, Any]:
    """Run it (in this process, or in `procs` forked ones) and return the JSON report; the
    table is printed unless `quiet`."""
    import contextlib
    import io
    import time

    from load.flow import gates
    from load.flow.cli import execute_scenario
    from load.flow.summary import build

    objectives = gates.parse(slo) if slo else []
    began = time.monotonic()
    meter, agents, stopped = execute_scenario(scenario, procs=procs)
    report = build(scenario, meter, source="<python>", elapsed=time.monotonic() - began,
                   procs=procs, agents=agents, stopped=stopped)
    from load.flow.cli import finish

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        finish(report, objectives, json_path=Path(json) if json else None,
               html_path=Path(html) if html else None)
    return report
