"""Service availability as metrics: the readiness checks, run every few seconds.

Prometheus cannot read `/health/ready` (its answer is JSON, and a worker has none), so each
process samples the checks it depends on into `roomcast_dependency_up{dependency}` and
`roomcast_ready`; the alert rules and the dashboard read those. Failures are not logged here:
`/health/ready` logs them when asked, and a sample every few seconds would flood the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry, Gauge

Check = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 2.0


class DependencyProbe:
    def __init__(self, registry: CollectorRegistry, checks: Mapping[str, Check], *,
                 interval: float) -> None:
        self._checks = checks
        self._interval = interval
        self.up = Gauge("roomcast_dependency_up",
                        "1 while a service this process needs answers its check, else 0",
                        ["dependency"], registry=registry)
        self.ready = Gauge("roomcast_ready", "1 while every check of this process passes",
                           registry=registry)

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._interval)

    async def sample(self) -> None:
        names = list(self._checks)
        states = await asyncio.gather(*(_passes(self._checks[name]) for name in names))
        for name, ok in zip(names, states, strict=True):
            self.up.labels(name).set(1 if ok else 0)
        self.ready.set(1 if all(states) else 0)


async def _passes(check: Check) -> bool:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception:
        return False
    return True
