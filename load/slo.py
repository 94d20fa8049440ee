"""`--slo` objectives: `p99<100ms`, `connect.p95<=2s`, `max<1s`, `lost==0`, `errors<10`.

A latency objective without a prefix applies to the scenario's main latency: connect latency
for `connect`, delivery latency otherwise (`everyone.` is presence's time until every member
saw a change). An objective the run gave nothing to judge by (no latency samples; `lost` when
nothing was owed because nothing connected, nothing was published or no listener joined;
`errors` when no connection was even attempted) is missed, not met: a gate must not pass on an
empty run.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_LATENCY = re.compile(
    r"^(?:(connect|delivery|everyone)\.)?(p50|p95|p99|max|mean)\s*(<=|<)\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)$"
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

    def measure(self, report: dict[str, Any]) -> float | None:
        """The measured value, or None when the run measured nothing to judge by."""
        if self.metric == "lost":
            delivery = report["delivery"]
            return float(delivery["lost"]) if delivery["expected"] > 0 else None
        if self.metric == "errors":
            attempted = report["connect"]["attempted"] > 0
            return float(sum(report["errors"].values())) if attempted else None
        group, key = self.metric.split(".")
        latency = (report.get(group) or {}).get("latency_ms") or {"count": 0}
        return float(latency[key]) if latency["count"] > 0 else None

    def unmeasured(self, report: dict[str, Any]) -> str:
        """Why `measure` gave nothing."""
        if self.metric == "lost":
            delivery = report["delivery"]
            return (f"nothing was owed: {report['connect']['connected']} connected, "
                    f"{delivery['published']} published, {delivery['listeners']} listening")
        if self.metric == "errors":
            return "no connection was attempted"
        return f"no {self.metric.split('.')[0]} samples"

    def met(self, report: dict[str, Any]) -> bool:
        measured = self.measure(report)
        return measured is not None and _OPS[self.op](measured, self.limit)


def parse(text: str, scenario: str) -> list[Objective]:
    objectives = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        latency = _LATENCY.match(part)
        count = _COUNT.match(part)
        if latency:
            group = latency[1] or ("connect" if scenario == "connect" else "delivery")
            if group == "everyone" and scenario != "presence":
                raise SloSyntaxError(f"{part!r}: `everyone.` is measured by presence only")
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
    """One entry per objective, for the report: expr, measured (None when nothing was
    measured, with the reason in `unmeasured`), ok."""
    results = []
    for objective in objectives:
        measured = objective.measure(report)
        entry: dict[str, Any] = {"expr": objective.expr, "ok": objective.met(report)}
        if measured is None:
            entry.update(measured=None, unmeasured=objective.unmeasured(report))
        else:
            unit = "" if objective.metric in ("lost", "errors") else " ms"
            entry["measured"] = f"{measured:g}{unit}"
        results.append(entry)
    return results
