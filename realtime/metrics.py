"""Prometheus metrics of the socket server, registered into the registry the edge serves."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class RealtimeMetrics:
    sockets: Gauge
    rooms: Gauge
    events_in: Counter
    events_out: Counter
    direct_writes: Counter
    fanout_seconds: Histogram
    recoveries: Counter
    presence_entries: Gauge
    slow_disconnects: Counter
    refused_events: Counter
    outbox_pending: Gauge
    outbox_lost: Counter
    oversized_frames: Counter
    session_endings: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> RealtimeMetrics:
        return cls(
            sockets=Gauge("roomcast_sockets", "Connected sockets on this process",
                          registry=registry),
            rooms=Gauge("roomcast_rooms", "Rooms with a member on this process",
                        registry=registry),
            events_in=Counter("roomcast_events_in", "Events received from clients", ["event"],
                              registry=registry),
            events_out=Counter("roomcast_events_out", "Frames queued to sockets",
                               registry=registry),
            direct_writes=Counter(
                "roomcast_direct_writes", "Frames written straight to a socket's transport",
                registry=registry),
            fanout_seconds=Histogram(
                "roomcast_fanout_seconds", "Time to queue one event to a room's local sockets",
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
                registry=registry),
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
            session_endings=Counter(
                "roomcast_session_endings",
                "Sockets the server disconnected, by the session:ending code", ["code"],
                registry=registry),
        )
