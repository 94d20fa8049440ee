"""What a request handler can reach: built once by the composition root, held on app.state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from core.jobqueue import JobQueue
from core.objects import ObjectStorage
from core.passwords import PasswordHasher
from core.revocations import TokenRevocations
from core.schedule import Dispatch
from core.settings import Settings
from core.store.models_cache import FittedModelCache
from core.store.stores import Stores
from core.tokens import TokenService
from realtime.emitter import Emitter

HealthCheck = Callable[[], Awaitable[None]]


@dataclass
class AppContext:
    settings: Settings
    stores: Stores
    tokens: TokenService
    passwords: PasswordHasher
    emitter: Emitter
    jobs: JobQueue
    objects: ObjectStorage
    revocations: TokenRevocations
    redis: Any = None  # redis.asyncio.Redis when REDIS_URL is set
    # name -> check; /health/ready runs each and names those that fail.
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    # Queues and schedules mail, reminders and digests (Taskiq, filled by the composition root).
    dispatch: Dispatch | None = None
    # The models row predictions use, kept between requests (made on first use).
    fitted_models: FittedModelCache | None = None

    def model_cache(self) -> FittedModelCache:
        if self.fitted_models is None:
            self.fitted_models = FittedModelCache(max_bytes=self.settings.model_cache_bytes)
        return self.fitted_models


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
