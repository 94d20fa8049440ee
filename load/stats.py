"""What one load process measured, and how the parent merges several of them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from load.histogram import Histogram


class Stats:
    """Counters and histograms of one process. Latencies are microseconds; `timeline` buckets
    delivery latencies by the second (since the start of the run) they arrived in."""

    def __init__(self, t0_ns: int = 0) -> None:
        self.t0_ns = t0_ns
        self.connect = Histogram()
        self.timeline: dict[int, Histogram] = {}
        self.counters: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    @property
    def delivery(self) -> Histogram:
        """Every delivery latency: the per-second histograms merged (recording each sample
        once keeps the receive path short)."""
        total = Histogram()
        for hist in self.timeline.values():
            total.merge(hist)
        return total

    def delivered(self, sent_ns: int, received_ns: int) -> None:
        second = (received_ns - self.t0_ns) // 1_000_000_000
        hist = self.timeline.get(second)
        if hist is None:
            hist = self.timeline[second] = Histogram()
        hist.record((received_ns - sent_ns) / 1000.0)
        self.counters["delivered"] += 1

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    def merge(self, other: Stats) -> None:
        self.connect.merge(other.connect)
        for second, hist in other.timeline.items():
            self.timeline.setdefault(second, Histogram()).merge(hist)
        self.counters.update(other.counters)
        self.errors.update(other.errors)

    def progress(self) -> dict[str, int]:
        """The few numbers the live progress line shows."""
        return {
            "connected": self.counters["connected"] - self.counters["disconnected"],
            "delivered": self.counters["delivered"],
            "published": self.counters["published"],
            "errors": sum(self.errors.values()),
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "t0_ns": self.t0_ns,
            "connect": self.connect.to_wire(),
            "timeline": {s: h.to_wire() for s, h in self.timeline.items()},
            "counters": dict(self.counters),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Stats:
        stats = cls(int(data["t0_ns"]))
        stats.connect = Histogram.from_wire(data["connect"])
        stats.timeline = {int(s): Histogram.from_wire(h) for s, h in data["timeline"].items()}
        stats.counters.update(data["counters"])
        stats.errors.update(data["errors"])
        return stats
