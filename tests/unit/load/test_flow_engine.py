"""Who the engine starts when, with users that do nothing (no network): arrivals, their split
over load processes, and a phase's last arrivals after a late wake-up."""

from __future__ import annotations

import time

import pytest

from load.flow import engine as engine_module
from load.flow.engine import Engine
from load.flow.meter import Meter
from load.flow.model import Phase, Scenario, UserKind


def counting(scenario: Scenario, index: int = 0, procs: int = 1) -> tuple[Engine, list[bool]]:
    started: list[bool] = []
    engine = Engine(scenario, Meter(time.time_ns()), index=index, procs=procs)
    engine.spawn = lambda closed: started.append(closed)  # type: ignore[method-assign]
    return engine, started


def plan(*phases: Phase) -> Scenario:
    return Scenario(kinds=(UserKind("u", ()),), phases=phases, grace=0)


async def test_a_late_wake_up_still_starts_every_arrival_of_the_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One wake-up at the start, the next after the phase's end: the tick in between never came.
    monkeypatch.setattr(engine_module, "TICK", 1.5)
    engine, started = counting(plan(Phase(1, arrival_rate=50)))
    await engine.run(time.time_ns())
    assert len(started) == 50


async def test_arrivals_are_split_exactly_over_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "TICK", 0.2)
    scenario = plan(Phase(0.5, arrival_rate=10), Phase(0.5, arrival_rate=4))
    counts = []
    for index in range(3):
        engine, started = counting(scenario, index, 3)
        await engine.run(time.time_ns())
        counts.append(len(started))
    assert counts == [3, 2, 2]  # 5 + 2 arrivals: numbers 0..6, by number modulo 3


def test_only_events_an_expect_waits_for_are_kept() -> None:
    from load.flow.model import Expect, Loop
    from load.flow.vu import VirtualUser

    kind = UserKind("u", (Loop((Expect("pong"),), count=2),))
    engine = Engine(Scenario(kinds=(kind,), phases=(Phase(1, users=1),)), Meter(time.time_ns()))
    user = VirtualUser(engine.shared, kind, 0)
    for event in ("chat", "pong", "chat"):
        user.on_event(None, event, [{}], time.time_ns())  # type: ignore[arg-type]
    assert [event for event, _, _ in user.inbox] == ["pong"]
    assert engine.meter.summed("received:chat") == 2  # still counted
