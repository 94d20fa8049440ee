"""What one load process measured, and how the parent merges several of them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from load.histogram import Histogram


def _merged(timeline: dict[int, Histogram]) -> Histogram:
    total = Histogram()
    for hist in timeline.values():
        total.merge(hist)
    return total


def _bucket(timeline: dict[int, Histogram], second: int) -> Histogram:
    hist = timeline.get(second)
    if hist is None:
        hist = timeline[second] = Histogram()
    return hist


class Stats:
    """Counters and histograms of one process. Latencies are microseconds.

    `timeline` buckets delivery latencies by the second (since `t0_ns`, the start of the
    measured window) they arrived in; `connect_timeline` buckets connect latencies by the
    second (since `start_ns`, the start of the run) the connection completed in, and
    `connect_failures` counts failed attempts the same way. `named` holds scenario-specific
    latencies (presence: `everyone`, the time until every member saw a change). `failures`
    says why a run stopped before its end (a scenario raised, a process died)."""

    def __init__(self, t0_ns: int = 0) -> None:
        self.t0_ns = t0_ns
        self.start_ns = t0_ns
        self.timeline: dict[int, Histogram] = {}
        self.connect_timeline: dict[int, Histogram] = {}
        self.connect_failures: Counter[int] = Counter()
        self.named: dict[str, Histogram] = {}
        self.counters: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.failures: list[str] = []

    @property
    def delivery(self) -> Histogram:
        """Every delivery latency: the per-second histograms merged (recording each sample
        once keeps the receive path short)."""
        return _merged(self.timeline)

    @property
    def connect(self) -> Histogram:
        return _merged(self.connect_timeline)

    def delivered(self, sent_ns: int, received_ns: int) -> None:
        second = (received_ns - self.t0_ns) // 1_000_000_000
        _bucket(self.timeline, second).record((received_ns - sent_ns) / 1000.0)
        self.counters["delivered"] += 1

    def connected(self, micros: float, at_ns: int) -> None:
        second = (at_ns - self.start_ns) // 1_000_000_000
        _bucket(self.connect_timeline, second).record(micros)
        self.counters["connected"] += 1

    def connect_failed(self, kind: str, at_ns: int) -> None:
        self.connect_failures[(at_ns - self.start_ns) // 1_000_000_000] += 1
        self.error(f"connect:{kind}")

    def record(self, name: str, micros: float) -> None:
        """A sample of a scenario-specific latency."""
        self.named.setdefault(name, Histogram()).record(micros)

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def fail(self, why: str) -> None:
        self.failures.append(why)

    def merge(self, other: Stats) -> None:
        for second, hist in other.timeline.items():
            _bucket(self.timeline, second).merge(hist)
        for second, hist in other.connect_timeline.items():
            _bucket(self.connect_timeline, second).merge(hist)
        for name, hist in other.named.items():
            self.named.setdefault(name, Histogram()).merge(hist)
        self.connect_failures.update(other.connect_failures)
        self.counters.update(other.counters)
        self.errors.update(other.errors)
        self.failures.extend(other.failures)

    def progress(self) -> dict[str, int]:
        """The few numbers the live progress line shows."""
        counters = self.counters
        return {
            "connected": counters["connected"] + counters["reopened"]
            - counters["disconnected"],
            "delivered": counters["delivered"],
            "published": counters["published"],
            "errors": sum(self.errors.values()),
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "t0_ns": self.t0_ns,
            "start_ns": self.start_ns,
            "timeline": {s: h.to_wire() for s, h in self.timeline.items()},
            "connect_timeline": {s: h.to_wire() for s, h in self.connect_timeline.items()},
            "connect_failures": dict(self.connect_failures),
            "named": {n: h.to_wire() for n, h in self.named.items()},
            "counters": dict(self.counters),
            "errors": dict(self.errors),
            "failures": list(self.failures),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Stats:
        stats = cls(int(data["t0_ns"]))
        stats.start_ns = int(data["start_ns"])
        stats.timeline = {int(s): Histogram.from_wire(h) for s, h in data["timeline"].items()}
        stats.connect_timeline = {int(s): Histogram.from_wire(h)
                                  for s, h in data["connect_timeline"].items()}
        stats.connect_failures.update({int(s): n for s, n in data["connect_failures"].items()})
        stats.named = {n: Histogram.from_wire(h) for n, h in data["named"].items()}
        stats.counters.update(data["counters"])
        stats.errors.update(data["errors"])
        stats.failures.extend(data["failures"])
        return stats
