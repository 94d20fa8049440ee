"""Latency histograms with bounded memory: log-spaced buckets, about 1% relative error.

Values are microseconds. A histogram is a fixed array of counts whatever the number of
samples, so millions of deliveries cost nothing extra; histograms from several processes
merge by adding counts. Merging is exact: the sum of samples is kept in whole nanoseconds, so a
merge of parts equals the histogram of all their samples, percentiles and mean alike.
"""

from __future__ import annotations

import math
from typing import Any

_log = math.log
_GROWTH = 1.01
_SCALE = 1.0 / math.log(_GROWTH)
BUCKETS = int(math.log(3_600_000_000.0) * _SCALE) + 2  # up to an hour, in microseconds


def bucket_of(micros: float) -> int:
    if micros <= 1.0:
        return 0
    return min(int(math.log(micros) * _SCALE), BUCKETS - 1)


def value_of(bucket: int) -> float:
    """The middle of a bucket, in microseconds."""
    return float(math.exp((bucket + 0.5) / _SCALE))


class Histogram:
    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0  # nanoseconds, an int: sums merge exactly
        self.max = 0.0
        self.min = math.inf

    def record(self, micros: float) -> None:
        # The hot path of every delivery: no calls beyond the one log.
        if micros <= 1.0:
            micros = max(micros, 0.0)
            bucket = 0
        else:
            bucket = int(_log(micros) * _SCALE)
        counts = self.counts
        counts[bucket] = counts.get(bucket, 0) + 1
        self.count += 1
        self.total += int(micros * 1000.0)
        if micros > self.max:
            self.max = micros
        if micros < self.min:
            self.min = micros

    def merge(self, other: Histogram) -> None:
        for bucket, n in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) in microseconds; the exact max for q=100."""
        if self.count == 0:
            return 0.0
        if q >= 100:
            return self.max
        rank = max(1, math.ceil(self.count * q / 100.0))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(max(value_of(bucket), self.min), self.max)
        return self.max

    def summary_ms(self) -> dict[str, float]:
        """count, mean, p50, p95, p99, max in milliseconds, as reports show them."""
        def ms(micros: float) -> float:
            return round(micros / 1000.0, 3)

        return {
            "count": self.count,
            "mean": ms(self.total / 1000.0 / self.count) if self.count else 0.0,
            "p50": ms(self.percentile(50)),
            "p95": ms(self.percentile(95)),
            "p99": ms(self.percentile(99)),
            "max": ms(self.max),
        }

    def to_wire(self) -> dict[str, Any]:
        # String keys: the same dict goes through pickle, JSON and Redis.
        return {"counts": {str(k): v for k, v in self.counts.items()}, "count": self.count,
                "total": self.total,
                "max": self.max, "min": self.min if self.count else None}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Histogram:
        hist = cls()
        hist.counts = {int(k): int(v) for k, v in data["counts"].items()}
        hist.count = int(data["count"])
        hist.total = int(data["total"])
        hist.max = float(data["max"])
        hist.min = math.inf if data["min"] is None else float(data["min"])
        return hist
