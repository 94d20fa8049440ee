"""The controller: hands the scenario and a share of the load to each agent, merges what they
stream back, stops them all when a stop condition holds, and reports an agent that died with
what it had done until then."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from load.flow.engine import stop_reason
from load.flow.meter import Meter
from load.flow.model import Scenario

LEAD_S = 2.0  # agents start this long after the assignment, on the wall clock


class NoAgents(Exception):
    """Fewer agents registered than asked for, within the time allowed."""


class Hub(Protocol):
    """The controller's side of the conversation with its agents."""

    async def agents(self, want: int, within: float) -> list[str]: ...

    async def assign(self, agent: str, message: dict[str, Any]) -> None: ...

    async def receive(self, wait: float) -> list[dict[str, Any]]: ...

    async def alive(self, agent: str) -> bool: ...

    async def request_stop(self, run: str, reason: str) -> None: ...


@dataclass
class AgentState:
    name: str
    meter: Meter
    status: str = "running"  # running, done, failed, died
    last_report_ns: int = 0
    why: str = ""
    totals: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        done, errors, _ = self.meter.step_totals()
        return {"agent": self.name, "status": self.status,
                "users_started": self.meter.summed("users:started"),
                "steps_done": done, "errors": errors,
                "last_report_s": round((self.last_report_ns - self.meter.start_ns) / 1e9, 1)
                if self.last_report_ns else None}


async def control(
    scenario: Scenario, hub: Hub, *, yaml_text: str | None, source: str, agents: int,
    wait_agents: float = 30.0, on_second: Callable[[Meter], None] | None = None,
) -> tuple[Meter, list[dict[str, Any]], str | None]:
    """Run `scenario` over `agents` agents; the merged meter, each agent's account, and why
    the run stopped early (None when it ran its phases). Agents get the scenario's text and
    read it themselves; without text (a scenario built in Python), the object itself, which
    only forked agents on this machine can take."""
    names = await hub.agents(agents, wait_agents)
    run = uuid.uuid4().hex[:12]
    start_ns = time.time_ns() + int(LEAD_S * 1e9)
    states = {name: AgentState(name, Meter(start_ns)) for name in names}
    for index, name in enumerate(names):
        message: dict[str, Any] = {
            "run": run, "source": source, "index": index,
            "procs": len(names), "start_ns": start_ns}
        if yaml_text is None:
            message["scenario"] = scenario
        else:
            message.update(yaml=yaml_text, rows=list(scenario.rows))
        await hub.assign(name, message)
    deadline = time.monotonic() + LEAD_S + scenario.duration + scenario.grace + 30.0
    stopped: str | None = None
    last_second = -1
    merged = Meter(start_ns)  # every agent's windows, merged as they come
    while any(s.status == "running" for s in states.values()):
        for message in await hub.receive(0.5):
            state = states.get(str(message.get("agent")))
            if state is None:
                continue
            window = Meter.from_wire(message["data"])
            state.meter.merge(window)
            merged.merge(window)
            state.totals = dict(message.get("totals") or {})
            state.last_report_ns = time.time_ns()
            if message["kind"] == "done":
                state.status = "done"
                stopped = stopped or message.get("stopped")
            elif message["kind"] == "failed":
                state.status, state.why = "failed", str(message.get("why", ""))
        merged.totals = sum((Counter(s.totals) for s in states.values()), Counter())
        for state in states.values():
            if state.status == "running" and not await hub.alive(state.name):
                state.status = "died"
        reason = stopped or stop_reason(merged, scenario.stop)
        if reason is not None and stopped is None:
            stopped = reason
            await hub.request_stop(run, reason)
        second = merged.second(time.time_ns())
        if on_second is not None and second != last_second and time.time_ns() > start_ns:
            last_second = second
            on_second(merged)
        if time.monotonic() > deadline:
            for state in states.values():
                if state.status == "running":
                    state.status, state.why = "failed", "did not finish in time"
    merged.totals = sum((Counter(s.totals) for s in states.values()), Counter())
    merged.failures = []
    if stopped:
        merged.failures.insert(0, f"stopped early: {stopped}")
    for state in states.values():
        account = state.describe()
        if state.status == "died":
            merged.failures.append(
                f"agent {state.name} died (no heartbeat) after {account['last_report_s']}s: it "
                f"had started {account['users_started']} users and done "
                f"{account['steps_done']} steps with {account['errors']} errors (its figures "
                "until then are in this report)")
        elif state.status == "failed":
            last = state.why.strip().splitlines()[-1:] or ["?"]
            merged.failures.append(f"agent {state.name} failed: {last[0]}")
    return merged, [s.describe() for s in states.values()], stopped
