"""REST route for admins: this process's socket counters, read from its own metrics registry,
so the operator page shows live counts without parsing the Prometheus text in the browser."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from api.metrics import registry_of
from api.routing import Call, NoModel, Router

router = Router(tags=["admin"])


class RealtimeCounts(BaseModel):
    at: float = Field(description="when they were read (Unix seconds), to turn totals into rates")
    sockets: int
    rooms: int
    presence_connections: int
    events_in_total: float
    events_out_total: float
    slow_client_disconnects_total: float
    refused_events_total: float
    session_endings: dict[str, float] = Field(description="disconnects by session:ending code")
    outbox_pending: int


@router.get("/admin/realtime", response=RealtimeCounts, auth="admin")
async def realtime_counts(call: Call[NoModel, NoModel]) -> RealtimeCounts:
    """This process's live socket counts and running totals (the numbers `/metrics` exposes as
    `roomcast_sockets`, `roomcast_rooms`, `roomcast_events_in_total`, ...). Per process:
    behind a load balancer each call reads the process it reaches."""
    samples = _samples(registry_of(call.ctx))
    return RealtimeCounts(
        at=time.time(),
        sockets=int(_sum(samples, "roomcast_sockets")),
        rooms=int(_sum(samples, "roomcast_rooms")),
        presence_connections=int(_sum(samples, "roomcast_presence_connections")),
        events_in_total=_sum(samples, "roomcast_events_in_total"),
        events_out_total=_sum(samples, "roomcast_events_out_total"),
        slow_client_disconnects_total=_sum(samples, "roomcast_slow_client_disconnects_total"),
        refused_events_total=_sum(samples, "roomcast_refused_events_total"),
        session_endings={labels.get("code", ""): value for name, labels, value in samples
                         if name == "roomcast_session_endings_total"},
        outbox_pending=int(_sum(samples, "roomcast_outbox_pending")),
    )


Sample = tuple[str, dict[str, str], float]


def _samples(registry: CollectorRegistry) -> list[Sample]:
    return [(s.name, s.labels, s.value) for metric in registry.collect() for s in metric.samples]


def _sum(samples: list[Sample], name: str) -> float:
    return sum(value for sample_name, _, value in samples if sample_name == name)
