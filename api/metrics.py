"""Prometheus metrics of the HTTP side, kept in the app's own registry.

The registry lives in `ctx.extras["metrics_registry"]` (the composition root creates it, and the
realtime side registers its socket metrics there too), so several apps in one process, as in
tests, never collide in prometheus-client's global registry.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from api.context import AppContext
from api.routing import Endpoint

REGISTRY_KEY = "metrics_registry"
_HTTP_METRICS_KEY = "http_metrics"
UNMATCHED = "unmatched"
# Anything else is counted as OTHER, so junk methods cannot grow the label set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def registry_of(ctx: AppContext) -> CollectorRegistry:
    """The app's registry, created on first use when the composition root did not make one."""
    registry = ctx.extras.get(REGISTRY_KEY)
    if registry is None:
        registry = ctx.extras[REGISTRY_KEY] = CollectorRegistry()
    assert isinstance(registry, CollectorRegistry)
    return registry


class HttpMetrics:
    """Request counts, latencies and in-flight requests by method, route template and status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "roomcast_http_requests_total", "HTTP requests answered.",
            ["method", "route", "status"], registry=registry,
        )
        self.latency = Histogram(
            "roomcast_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.in_progress = Gauge(
            "roomcast_http_requests_in_progress", "HTTP requests being answered now.",
            ["method"], registry=registry,
        )
        # Label lookups cost more than the updates: keep each series' child once found.
        # Bounded: methods are normalized and routes are templates.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @classmethod
    def of(cls, ctx: AppContext) -> HttpMetrics:
        """One instance per context: registering the same names twice would fail."""
        metrics = ctx.extras.get(_HTTP_METRICS_KEY)
        if metrics is None:
            metrics = ctx.extras[_HTTP_METRICS_KEY] = cls(registry_of(ctx))
        assert isinstance(metrics, HttpMetrics)
        return metrics

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method_label(method), route, status)
        children = self._children.get(key)
        if children is None:
            labels = (key[0], route, str(status))
            children = self._children[key] = (
                self.requests.labels(*labels), self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/projects/{project_id}`), never the raw path,
    so ids do not become label values."""
    owner = getattr(scope.get("endpoint"), "__self__", None)
    if isinstance(owner, Endpoint):
        return owner.path
    routes: list[BaseRoute] = getattr(scope.get("app"), "routes", [])
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match == Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial or UNMATCHED


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST
