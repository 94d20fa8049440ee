"""`--slo` for scenario runs: objectives over any step, event or connection figure.

    p99<200ms                  every step's latency together
    step.emit:chat.p99<100ms   one step (its name as in the report)
    event.chat.p99<50ms        delivery latency of an event carrying a send timestamp
    connect.p95<1s             connect latency
    errors==0  timeouts<5  lost==0  error_rate<0.01   (also step.NAME.errors, event.NAME.lost)
    step.join.count>=100  step.emit:chat.rate>=50  event.chat.received>1000
    connect.failed==0  disconnects==0 (dropped by the server or the network, not by a step)

An objective the run gave nothing to judge by (no samples, an unknown step) is missed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from load.slo import SloSyntaxError

_LATENCY = re.compile(r"^(?:(step|event)\.(.+)\.|(connect)\.)?(p50|p95|p99|max|mean)\s*"
                      r"(<=|<)\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)$")
_COUNT = re.compile(r"^(?:(step|event)\.(.+)\.|(connect)\.)?(errors|timeouts|lost|error_rate"
                    r"|count|rate|received|disconnects|failed)\s*(<=|<|==|>=|>)\s*"
                    r"([0-9]*\.?[0-9]+)$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt}
_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Gate:
    expr: str
    group: str  # "all", "step", "event", "connect"
    name: str
    stat: str
    op: str
    limit: float

    def measure(self, report: dict[str, Any]) -> float | None:
        item = self.item(report)
        if item is None:
            return None
        if self.stat in ("p50", "p95", "p99", "max", "mean"):
            return float(item[self.stat]) if item.get("count") else None
        return float(item[self.stat]) if self.stat in item else None

    def item(self, report: dict[str, Any]) -> dict[str, Any] | None:
        latency = self.stat in ("p50", "p95", "p99", "max", "mean")
        conn = report["connect"]
        dropped = sum(n for reason, n in conn["disconnects"].items()
                      if not reason.startswith("client_"))
        if self.group == "connect":
            if latency:
                return dict(conn["latency_ms"])
            return {"failed": sum(conn["failed"].values()), "disconnects": dropped,
                    "count": conn["connected"]} if conn["attempts"] else None
        if self.group == "all":
            totals = report["totals"]
            if latency:
                return dict(totals["latency_ms"])
            lost = sum(e.get("lost", 0) for e in report["events"].values())
            timeouts = sum(s["timeouts"] for s in report["steps"].values())
            return {"errors": totals["errors"], "error_rate": totals["error_rate"],
                    "lost": lost, "timeouts": timeouts, "count": totals["steps_done"],
                    "disconnects": dropped} if conn["attempts"] else None
        if self.group == "step":
            step = report["steps"].get(self.name)
            if step is None:
                return None
            if latency:
                return dict(step["latency_ms"])
            errors = sum(step["errors"].values())
            total = step["count"] + errors
            return {"errors": errors, "timeouts": step["timeouts"], "count": step["count"],
                    "rate": step["rate_per_s"], "error_rate": errors / total if total else 0.0}
        event = report["events"].get(self.name)
        if event is None:
            return None
        if latency:
            return dict(event.get("delivery_latency_ms") or {"count": 0})
        counts = {"received": event["received"], "count": event["received"],
                  "rate": event["rate_per_s"]}
        return counts | ({"lost": event["lost"]} if "lost" in event else {})


def parse(text: str) -> list[Gate]:
    gates = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        latency, count = _LATENCY.match(part), _COUNT.match(part)
        if latency:
            group = latency[1] or latency[3] or "all"
            gates.append(Gate(part, group, latency[2] or "", latency[4], latency[5],
                              float(latency[6]) * _MS[latency[7]]))
        elif count:
            gates.append(Gate(part, count[1] or count[3] or "all", count[2] or "", count[4],
                              count[5], float(count[6])))
        else:
            raise SloSyntaxError(f"cannot read objective {part!r}; expected e.g. 'p99<200ms', "
                                 "'step.emit:chat.p99<100ms', 'event.chat.p99<50ms', "
                                 "'errors==0', 'lost==0'")
    if not gates:
        raise SloSyntaxError("--slo given without an objective")
    return gates


def evaluate(gates: list[Gate], report: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for gate in gates:
        measured = gate.measure(report)
        entry: dict[str, Any] = {"expr": gate.expr,
                                 "ok": measured is not None and
                                 _OPS[gate.op](measured, gate.limit)}
        if measured is None:
            what = f"{gate.group} {gate.name}".strip()
            entry.update(measured=None, unmeasured=f"nothing measured for {what}")
        else:
            unit = " ms" if gate.stat in ("p50", "p95", "p99", "max", "mean") else ""
            entry["measured"] = f"{measured:g}{unit}"
        results.append(entry)
    return results
