"""The composition root: builds settings' clients, the stores, the apps, and wires them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import socketio
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import create_app
from api.context import AppContext
from api.metrics import route_template
from api.routes.people import notices
from api.web import WebApp, web_root
from core.errors import ServiceUnavailable
from core.live import LIVE_ADMIN_KEY
from core.mentions import MentionNotifier
from core.objects import ObjectStorage
from core.objects_local import LocalObjectStorage
from core.passwords import PasswordHasher
from core.redispool import open_redis
from core.revocations import MemoryRevocations, RedisRevocations, TokenRevocations
from core.settings import Settings, polling_enabled
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from core.tokens import TokenService
from core.tracing import Tracing, current_ids, emit_call, object_call
from realtime.emitter import OUTBOX_KEY
from realtime.polling import PollingRefusal
from realtime.server import Realtime, build_realtime
from roomcast.logs import use_trace_ids
from roomcast.probes import DependencyProbe
from roomcast.recovery import Leftovers
from roomcast.worker import JobRuntime, build_job_runtime

log = logging.getLogger("roomcast")


def build_object_storage(settings: Settings) -> ObjectStorage:
    if settings.s3_endpoint:
        # Imported only when used: the S3 client library takes a noticeable part of start-up.
        from core.objects_s3 import S3ObjectStorage

        return S3ObjectStorage.from_settings(settings)
    return LocalObjectStorage(settings.data_dir / "objects")


@dataclass
class Services:
    """Every long-lived client and the context handed to the apps."""

    settings: Settings
    mongo_client: Any
    redis: Redis | None
    ctx: AppContext
    realtime: Realtime
    jobs: JobRuntime | None = None
    probe: DependencyProbe | None = None
    tracing: Tracing | None = None
    _probing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ctx.stores.migrations().run()
        await self.ctx.stores.ensure_indexes()
        # The embedded store has this process as its one owner: whatever it holds unfinished
        # now, the process before left.
        leftover = None if self.settings.mongo_uri else await Leftovers.take(self.ctx.stores)
        for hook in self.realtime.startup:
            await hook()
        if self.jobs is not None:
            await self.jobs.start()
            if leftover is not None:
                await leftover.resume(self.jobs.queue)
        if self.probe is not None:
            self._probing = asyncio.create_task(self.probe.run())

    def stop_accepting(self) -> None:
        """The process is going: /health/ready answers 503 (`server` down) from now on, and
        sockets that still reach it are refused."""
        self.ctx.health_checks["server"] = _shutting_down
        if self.realtime.hub is not None:
            self.realtime.hub.stopping = True

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        if self.jobs is not None:
            with contextlib.suppress(Exception):
                await self.jobs.stop()
        for hook in self.realtime.shutdown:
            with contextlib.suppress(Exception):
                await hook()
        if self.redis is not None:
            await self.redis.aclose()
        await close_mongo(self.mongo_client)
        if self.tracing is not None:
            self.tracing.shutdown()


def build_services(settings: Settings, *, tracing: Tracing | None = None) -> Services:
    """Create clients and the context. MongoDB, Redis and S3 clients connect lazily; the
    embedded store is opened here (DataDirInUse, StoreDamaged). Tracing is on with
    OTEL_EXPORTER_OTLP_ENDPOINT (or a `tracing` given, as tests do)."""
    settings.check_production()
    tracing = tracing or Tracing.from_settings(settings, "roomcast-serve")
    if tracing is not None:
        tracing.instrument_clients()  # before any client is made
        use_trace_ids(current_ids)
    mongo_client, db = open_mongo(settings)
    stores = Stores.over(db)
    redis = open_redis(settings) if settings.redis_url else None
    tokens = TokenService(settings)
    revocations: TokenRevocations = (
        RedisRevocations(redis) if redis is not None else MemoryRevocations()
    )
    # One registry per app: HTTP metrics (api.metrics) and socket metrics register here.
    metrics_registry = CollectorRegistry()
    realtime = build_realtime(
        settings, stores=stores, tokens=tokens, revocations=revocations, redis=redis,
        metrics_registry=metrics_registry,
    )
    objects = build_object_storage(settings)
    emitter = realtime.emitter
    if tracing is not None:
        objects = tracing.calls(objects, "objects", object_call)
        emitter = tracing.calls(emitter, "emitter", emit_call)
    job_runtime = build_job_runtime(settings, stores=stores, objects=objects, emitter=emitter,
                                    metrics_registry=metrics_registry, tracing=tracing)
    ctx = AppContext(
        settings=settings,
        stores=stores,
        tokens=tokens,
        passwords=PasswordHasher(),
        emitter=emitter,
        jobs=job_runtime.queue,
        objects=objects,
        revocations=revocations,
        redis=redis,
        dispatch=job_runtime.dispatch,
    )
    if realtime.handlers is not None:
        realtime.handlers.on_mention = MentionNotifier(stores, notices(ctx))
    ctx.extras["metrics_registry"] = metrics_registry
    ctx.extras[OUTBOX_KEY] = realtime.outbox
    ctx.extras[LIVE_ADMIN_KEY] = realtime.live
    ctx.health_checks["mongodb"] = stores.ping
    if redis is not None:
        ctx.health_checks["redis"] = _redis_ping(redis)
    ctx.health_checks["objects"] = ctx.objects.ping
    # The same checks as /health/ready (the mapping itself: `server` joins it at shutdown).
    probe = DependencyProbe(metrics_registry, ctx.health_checks,
                            interval=settings.metrics_sample_seconds)
    return Services(settings, mongo_client, redis, ctx, realtime, job_runtime, probe, tracing)


async def _shutting_down() -> None:
    raise ServiceUnavailable("the server is shutting down")


def _redis_ping(redis: Redis) -> Any:
    async def check() -> None:
        await redis.ping()

    return check


def create_asgi(services: Services) -> ASGIApp:
    """One ASGI app: Socket.IO at /socket.io/, the web app at / and /assets/, REST and the rest
    on the Starlette app."""
    rest = create_app(services.ctx)
    served: ASGIApp = rest if services.tracing is None else traced_rest(rest, services.tracing)
    settings = services.settings
    media = ((f"{'https' if settings.s3_secure else 'http'}://{settings.s3_endpoint}",)
             if settings.s3_endpoint else ())
    web = WebApp(served, root=web_root(), media_origins=media)
    app: ASGIApp = socketio.ASGIApp(services.realtime.sio, other_asgi_app=web,
                                    socketio_path="socket.io")
    if not polling_enabled(settings):
        # Long-polling answered with its reason instead of Engine.IO's bare 400.
        app = PollingRefusal(app, cors_origins=settings.cors_origins,
                             on_refused=services.realtime.on_polling_refused)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.close()

    return _with_lifespan(app, lifespan)


def _with_lifespan(app: ASGIApp, lifespan: Any) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        message = await receive()
        assert message["type"] == "lifespan.startup"
        manager = lifespan()
        try:
            await manager.__aenter__()
        except Exception as exc:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        await manager.__aexit__(None, None, None)
        await send({"type": "lifespan.shutdown.complete"})

    return asgi


def traced_rest(rest: Starlette, tracing: Tracing) -> ASGIApp:
    """A span per REST request, named by method and route template (ids stay out of names);
    health checks and scrapes are not traced."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    def details(scope: Scope) -> tuple[str, dict[str, Any]]:
        route = route_template({**scope, "app": rest})
        return f"{scope.get('method', 'HTTP')} {route}", {"http.route": route}

    return OpenTelemetryMiddleware(rest, tracer_provider=tracing.provider,
                                   excluded_urls="/health/,/metrics",
                                   default_span_details=details)
