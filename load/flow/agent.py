"""A load agent: takes a scenario and its share of the load from a controller, starts on the
common clock, and streams what it measured back each second.

The controller and its agents talk through a `Link` (agent side) and a `Hub` (controller side):
over Redis between machines (`load.flow.redishub`), over pipes for `--procs` on one machine
(`load.flow.localhub`). Messages are JSON-ready dicts:

    controller -> agent  {"run": id, "yaml": text, "source": name, "rows": [...],
                          "index": 0, "procs": 2, "start_ns": wall clock}
    agent -> controller  {"agent": id, "kind": "stats", "data": <Meter window>, "totals": ...}
                         {"agent": id, "kind": "done" | "failed", "data": ..., "why": ...}
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any, Protocol

from load.flow.engine import Engine
from load.flow.meter import Meter
from load.flow.model import Scenario
from load.flow.parse import load_text


class Link(Protocol):
    """An agent's side of the conversation with its controller."""

    async def send(self, message: dict[str, Any]) -> None: ...

    async def stop_requested(self) -> str | None: ...


class Streamer:
    """Sends each finished second once (a record always lands in the current second, so the
    seconds before it are final)."""

    def __init__(self, meter: Meter, link: Link, agent: str) -> None:
        self.meter, self.link, self.agent = meter, link, agent
        self.sent_upto = 0

    def window(self, upto: int | None) -> dict[str, Any]:
        meter = self.meter
        part = Meter(meter.start_ns)
        hi = upto if upto is not None else 1 << 40
        for name, by in meter.series.items():
            chosen = {s: h for s, h in by.items() if self.sent_upto <= s < hi}
            if chosen:
                part.series[name] = chosen
        for name, counter in meter.counts.items():
            for second, n in counter.items():
                if self.sent_upto <= second < hi:
                    part.count(name, meter.start_ns + second * 1_000_000_000, n)
        self.sent_upto = hi
        return part.to_wire()

    async def tick(self) -> None:
        current = self.meter.second(time.time_ns())
        await self.link.send({"agent": self.agent, "kind": "stats",
                              "data": self.window(current), "totals": dict(self.meter.totals)})


async def run_assignment(assignment: dict[str, Any], link: Link, agent: str) -> None:
    """Run one assignment to its end, streaming as it goes; the last message says done or
    failed (a scenario that raised is reported, not swallowed)."""
    scenario = assignment.get("scenario")
    if not isinstance(scenario, Scenario):
        scenario = load_text(assignment["yaml"], assignment.get("source", "<scenario>"),
                             rows=assignment.get("rows") or None)
    meter = Meter(int(assignment["start_ns"]))
    streamer = Streamer(meter, link, agent)
    stop_reason: list[str | None] = [None]
    engine = Engine(scenario, meter, index=int(assignment["index"]),
                    procs=int(assignment["procs"]),
                    external_stop=lambda: stop_reason[0])

    async def pump() -> None:
        while True:
            await asyncio.sleep(1.0)
            stop_reason[0] = await link.stop_requested()
            await streamer.tick()

    pumping = asyncio.create_task(pump())
    try:
        await engine.run(int(assignment["start_ns"]))
    except Exception:
        pumping.cancel()
        await link.send({"agent": agent, "kind": "failed", "data": streamer.window(None),
                         "totals": dict(meter.totals), "why": traceback.format_exc()})
        return
    pumping.cancel()
    await link.send({"agent": agent, "kind": "done", "data": streamer.window(None),
                     "totals": dict(meter.totals), "stopped": engine.stopped})
