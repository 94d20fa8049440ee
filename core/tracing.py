"""OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

When off, nothing here is installed: no middleware, no wrapper, no instrumented client, so a
request costs what it did without tracing (docs/performance.md, "Tracing"). When on, the
composition root builds one `Tracing` per process and hands it to what it builds: the REST app
(a span per request), the Taskiq broker (the trace context travels in each job message's
labels, so the worker's spans join the request's trace), PyMongo and redis-py (a span per
command, through their instrumentations, set up before any client exists), object storage and
the emitter (a span per call, through `calls`). The tracer provider is never made global, so
several apps in one process (tests) each keep their own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Tracer

from core.settings import Settings

T = TypeVar("T")
# What a traced call records of its arguments: attributes by name.
Describe = Callable[[str, tuple[Any, ...]], Mapping[str, str]]
TRACER_NAME = "roomcast"


class Tracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(TRACER_NAME)
        self._instrumented: list[Any] = []

    @classmethod
    def from_settings(cls, settings: Settings, service: str) -> Tracing | None:
        """None unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then spans go there over OTLP/HTTP."""
        endpoint = settings.otel_exporter_otlp_endpoint
        if not endpoint:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
        provider = TracerProvider(resource=_resource(settings, service))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    @classmethod
    def with_exporter(cls, exporter: SpanExporter, service: str) -> Tracing:
        """Spans handed to `exporter` as each ends (the SDK's in-memory exporter in tests)."""
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return cls(provider)

    def instrument_clients(self) -> None:
        """PyMongo's and redis-py's commands as spans: for the clients made after this call."""
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        for instrumentor in (PymongoInstrumentor(), RedisInstrumentor()):
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=self.provider)
                self._instrumented.append(instrumentor)

    def calls(self, target: T, component: str, describe: Describe | None = None) -> T:
        """`target` with each of its coroutine methods run in a span `{component}.{method}`."""
        return cast(T, _TracedCalls(target, component, self.tracer, describe))

    def shutdown(self) -> None:
        for instrumentor in self._instrumented:
            instrumentor.uninstrument()
        self._instrumented.clear()
        self.provider.shutdown()


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids (hex), for log lines; None outside a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def object_call(method: str, args: tuple[Any, ...]) -> Mapping[str, str]:
    return {"roomcast.object_key": args[0]} if args and isinstance(args[0], str) else {}


def emit_call(method: str, args: tuple[Any, ...]) -> Mapping[str, str]:
    """`emit(room, event, data)`: the room and the event; other calls: the first id."""
    if method == "emit" and len(args) >= 2:
        return {"roomcast.room": str(args[0]), "roomcast.event": str(args[1])}
    return {"roomcast.user_id": args[0]} if args and isinstance(args[0], str) else {}


class _TracedCalls:
    def __init__(self, target: Any, component: str, tracer: Tracer,
                 describe: Describe | None) -> None:
        self._target = target
        self._component = component
        self._tracer = tracer
        self._describe = describe

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.isasyncgenfunction(value):
            return self._stream(name, value)
        if not inspect.iscoroutinefunction(value):
            return value
        span_name = f"{self._component}.{name}"

        @functools.wraps(value)
        async def call(*args: Any, **kwargs: Any) -> Any:
            attributes = dict(self._describe(name, args)) if self._describe else {}
            with self._tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT,
                                                    attributes=attributes):
                return await value(*args, **kwargs)

        return call

    def _stream(self, name: str, value: Any) -> Any:
        """An async generator's span lasts until it is exhausted or closed. It is not made the
        current span: the generator is resumed in its consumer's context, not its own."""

        @functools.wraps(value)
        async def stream(*args: Any, **kwargs: Any) -> Any:
            attributes = dict(self._describe(name, args)) if self._describe else {}
            span = self._tracer.start_span(f"{self._component}.{name}", kind=SpanKind.CLIENT,
                                           attributes=attributes)
            try:
                async for item in value(*args, **kwargs):
                    yield item
            finally:
                span.end()

        return stream


def _resource(settings: Settings, service: str) -> Resource:
    return Resource.create({"service.name": settings.otel_service_name or service})
