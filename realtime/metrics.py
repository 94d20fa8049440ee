"""Prometheus metrics of the socket server, registered into the registry the edge serves.

The counters and the histogram on the per-message path are plain numbers that one event loop
increments, read only when `/metrics` is scraped: prometheus_client's own take a lock on every
increment, which costs more than the rest of the bookkeeping of a delivery.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class LoopCounter:
    """A counter incremented from one event loop only."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class LoopCounters:
    """A counter with one label, children created on first use."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self._children: dict[str, LoopCounter] = {}

    def labels(self, value: str) -> LoopCounter:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = LoopCounter()
        return child

    def family(self) -> Metric:
        metric = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, child in self._children.items():
            metric.add_metric([value], child.value)
        return metric


class LoopHistogram:
    """A histogram observed from one event loop only."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        self._sum += amount
        self._counts[bisect_left(self._bounds, amount)] += 1

    def family(self) -> Metric:
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, self._bounds), "+Inf"), self._counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                     sum_value=self._sum)


class _Plain:
    """A single LoopCounter exposed under a name."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name, self.documentation = name, documentation
        self.counter = LoopCounter()

    def family(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation, value=self.counter.value)


class _LoopCollector(Collector):
    def __init__(self, metrics: list[LoopCounters | LoopHistogram | _Plain]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.family()


@dataclass
class RealtimeMetrics:
    sockets: Gauge
    rooms: Gauge
    events_in: LoopCounters
    events_out: LoopCounter
    direct_writes: LoopCounter
    fanout_seconds: LoopHistogram
    recoveries: Counter
    presence_entries: Gauge
    slow_disconnects: Counter
    refused_events: Counter
    outbox_pending: Gauge
    outbox_lost: Counter
    oversized_frames: Counter
    polling_refused: Counter
    session_endings: Counter

    def record_sent(self, count: int, seconds: float) -> None:
        """One local fan-out: `count` frames queued or written in `seconds`."""
        self.events_out.inc(count)
        self.fanout_seconds.observe(seconds)

    @classmethod
    def register(cls, registry: CollectorRegistry) -> RealtimeMetrics:
        events_in = LoopCounters("roomcast_events_in", "Events received from clients", "event")
        events_out = _Plain("roomcast_events_out", "Frames queued to sockets")
        direct_writes = _Plain("roomcast_direct_writes",
                               "Frames written straight to a socket's transport")
        fanout_seconds = LoopHistogram(
            "roomcast_fanout_seconds", "Time to queue one event to a room's local sockets",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        registry.register(_LoopCollector([events_in, events_out, direct_writes, fanout_seconds]))
        return cls(
            sockets=Gauge("roomcast_sockets", "Connected sockets on this process",
                          registry=registry),
            rooms=Gauge("roomcast_rooms", "Rooms with a member on this process",
                        registry=registry),
            events_in=events_in,
            events_out=events_out.counter,
            direct_writes=direct_writes.counter,
            fanout_seconds=fanout_seconds,
            recoveries=Counter("roomcast_recoveries", "Joins with `since`", ["recovered"],
                               registry=registry),
            presence_entries=Gauge("roomcast_presence_connections",
                                   "Presence entries held by this process", registry=registry),
            slow_disconnects=Counter("roomcast_slow_client_disconnects",
                                     "Sockets disconnected for a full outbound queue",
                                     registry=registry),
            refused_events=Counter("roomcast_refused_events", "Events answered with an error",
                                   ["code"], registry=registry),
            outbox_pending=Gauge("roomcast_outbox_pending",
                                 "Publishes waiting to be retried until Redis is back",
                                 registry=registry),
            outbox_lost=Counter("roomcast_outbox_lost",
                                "Publishes lost because the outbox was full", registry=registry),
            oversized_frames=Counter(
                "roomcast_oversized_frames",
                "Connections closed (1009) for a frame over SOCKET_MAX_PAYLOAD_BYTES",
                registry=registry),
            polling_refused=Counter(
                "roomcast_polling_refused",
                "Long-polling requests answered polling_disabled (polling is not served)",
                registry=registry),
            session_endings=Counter(
                "roomcast_session_endings",
                "Sockets the server disconnected, by the session:ending code", ["code"],
                registry=registry),
        )
