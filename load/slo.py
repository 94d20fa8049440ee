"""`--slo` objectives: `p99<100ms`, `connect.p95<=2s`, `max<1s`, `lost==0`, `errors<10`.

A latency objective without a prefix applies to the scenario's main latency: connect latency
for `connect`, delivery latency otherwise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_LATENCY = re.compile(
    r"^(?:(connect|delivery)\.)?(p50|p95|p99|max|mean)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)$"
)
_COUNT = re.compile(r"^(lost|errors)\s*(<=|<|==)\s*([0-9]+)$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq,
}
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class SloSyntaxError(ValueError):
    """An objective that cannot be read; the CLI exits 2 on it."""


@dataclass(frozen=True)
class Objective:
    expr: str
    metric: str  # "connect.p99", "delivery.max", "lost", "errors"
    op: str
    limit: float  # milliseconds for latencies

    def measure(self, report: dict[str, Any]) -> float:
        if self.metric == "lost":
            return float(report["delivery"]["lost"])
        if self.metric == "errors":
            return float(sum(report["errors"].values()))
        group, key = self.metric.split(".")
        return float(report[group]["latency_ms"][key])

    def met(self, report: dict[str, Any]) -> bool:
        return _OPS[self.op](self.measure(report), self.limit)


def parse(text: str, scenario: str) -> list[Objective]:
    objectives = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        latency = _LATENCY.match(part)
        count = _COUNT.match(part)
        if latency:
            group = latency[1] or ("connect" if scenario == "connect" else "delivery")
            limit = float(latency[4]) * _UNIT_MS[latency[5]]
            objectives.append(Objective(part, f"{group}.{latency[2]}", latency[3], limit))
        elif count:
            objectives.append(Objective(part, count[1], count[2], float(count[3])))
        else:
            raise SloSyntaxError(
                f"cannot read objective {part!r}; expected e.g. 'p99<100ms', "
                "'connect.p95<=2s', 'lost==0'"
            )
    if not objectives:
        raise SloSyntaxError("--slo given without an objective")
    return objectives


def evaluate(objectives: list[Objective], report: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per objective, for the report: expr, measured, ok."""
    results = []
    for objective in objectives:
        measured = objective.measure(report)
        unit = "" if objective.metric in ("lost", "errors") else " ms"
        results.append({"expr": objective.expr, "measured": f"{measured:g}{unit}",
                        "ok": objective.met(report)})
    return results
