"""What a scenario run measures, per second, mergeable across processes and machines.

Every latency is a `Histogram` per (series, second since the run's common start), so a
phase's figures are the merge of its seconds and several processes' figures the merge of
theirs: merging adds bucket counts, which is exact. Series names:

    step:<name>      a step's latency (connect, an emit's ack, an expect's answer)
    event:<name>     delivery latency of an event carrying a send timestamp
    connect          connect latency (also under step:<its name>)

Counters per second: `done:<step>`, `error:<step>:<kind>`, `received:<event>`, `users:*`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from load.histogram import Histogram


class Meter:
    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.series: dict[str, dict[int, Histogram]] = {}
        self.counts: dict[str, Counter[int]] = {}
        self.totals: Counter[str] = Counter()  # not per second: losses, users, disconnects
        self.failures: list[str] = []
        # The whole run so far, kept as it is recorded: reading it (the live view, the stop
        # conditions, each second) must not cost more as a run grows longer.
        self.whole: dict[str, Histogram] = {}
        self.whole_counts: Counter[str] = Counter()

    def second(self, at_ns: int) -> int:
        return max(0, (at_ns - self.start_ns) // 1_000_000_000)

    def latency(self, series: str, micros: float, at_ns: int) -> None:
        by_second = self.series.get(series)
        if by_second is None:
            by_second = self.series[series] = {}
        second = self.second(at_ns)
        hist = by_second.get(second)
        if hist is None:
            hist = by_second[second] = Histogram()
        hist.record(micros)
        whole = self.whole.get(series)
        if whole is None:
            whole = self.whole[series] = Histogram()
        whole.record(micros)

    def count(self, name: str, at_ns: int, n: int = 1) -> None:
        by_second = self.counts.get(name)
        if by_second is None:
            by_second = self.counts[name] = Counter()
        by_second[self.second(at_ns)] += n
        self.whole_counts[name] += n

    def step_done(self, step: str, micros: float | None, at_ns: int) -> None:
        self.count(f"done:{step}", at_ns)
        if micros is not None:
            self.latency(f"step:{step}", micros, at_ns)

    def step_error(self, step: str, kind: str, at_ns: int) -> None:
        self.count(f"error:{step}:{kind}", at_ns)

    def total(self, name: str, n: int = 1) -> None:
        self.totals[name] += n

    # -- reading ------------------------------------------------------------------------------

    def merged(self, series: str, lo: int = 0, hi: int | None = None) -> Histogram:
        if lo <= 0 and hi is None:
            whole, recorded = Histogram(), self.whole.get(series)
            if recorded is not None:
                whole.merge(recorded)
            return whole
        out = Histogram()
        for second, hist in self.series.get(series, {}).items():
            if second >= lo and (hi is None or second < hi):
                out.merge(hist)
        return out

    def summed(self, name: str, lo: int = 0, hi: int | None = None) -> int:
        if lo <= 0 and hi is None:
            return self.whole_counts[name]
        return sum(n for second, n in self.counts.get(name, Counter()).items()
                   if second >= lo and (hi is None or second < hi))

    def names(self, prefix: str) -> list[str]:
        found = {key[len(prefix):] for key in [*self.series, *self.counts]
                 if key.startswith(prefix)}
        return sorted(found)

    def errors(self, lo: int = 0, hi: int | None = None) -> Counter[str]:
        """`<step>:<kind>` -> count."""
        out: Counter[str] = Counter()
        if lo <= 0 and hi is None:
            for key, n in self.whole_counts.items():
                if key.startswith("error:") and n:
                    out[key[len("error:"):]] += n
            return out
        for key in self.counts:
            if key.startswith("error:"):
                n = self.summed(key, lo, hi)
                if n:
                    out[key[len("error:"):]] += n
        return out

    def step_totals(self, lo: int = 0, hi: int | None = None) -> tuple[int, int, Histogram]:
        """(steps done, step errors, every step latency merged) in a window."""
        done = sum(self.summed(k, lo, hi) for k in self.counts if k.startswith("done:"))
        errors = sum(self.errors(lo, hi).values())
        hist = Histogram()
        for key in self.series:
            if key.startswith("step:"):
                hist.merge(self.merged(key, lo, hi))
        return done, errors, hist

    def last_second(self) -> int:
        seconds = [s for by in self.series.values() for s in by]
        seconds += [s for by in self.counts.values() for s in by]
        return max(seconds, default=0)

    # -- merging across processes -------------------------------------------------------------

    def merge(self, other: Meter) -> None:
        shift = (other.start_ns - self.start_ns) // 1_000_000_000
        for name, by_second in other.series.items():
            mine = self.series.setdefault(name, {})
            for second, hist in by_second.items():
                mine.setdefault(second + shift, Histogram()).merge(hist)
        for name, hist in other.whole.items():
            self.whole.setdefault(name, Histogram()).merge(hist)
        for name, counter in other.counts.items():
            target = self.counts.setdefault(name, Counter())
            for second, n in counter.items():
                target[second + shift] += n
        self.whole_counts.update(other.whole_counts)
        self.totals.update(other.totals)
        self.failures.extend(other.failures)

    def to_wire(self) -> dict[str, Any]:
        return {
            "start_ns": self.start_ns,
            "series": {n: {str(s): h.to_wire() for s, h in by.items()}
                       for n, by in self.series.items()},
            "counts": {n: {str(s): c for s, c in by.items()} for n, by in self.counts.items()},
            "totals": dict(self.totals),
            "failures": list(self.failures),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Meter:
        meter = cls(int(data["start_ns"]))
        meter.series = {n: {int(s): Histogram.from_wire(h) for s, h in by.items()}
                        for n, by in data["series"].items()}
        meter.counts = {n: Counter({int(s): int(c) for s, c in by.items()})
                        for n, by in data["counts"].items()}
        meter.totals.update(data["totals"])
        meter.failures.extend(data["failures"])
        for name, by in meter.series.items():
            whole = meter.whole[name] = Histogram()
            for hist in by.values():
                whole.merge(hist)
        for name, counter in meter.counts.items():
            meter.whole_counts[name] = sum(counter.values())
        return meter
