"""The cost of one REST request with tracing off and on, measured in-process.

    python benchmarks/tracing_cost.py --mode off
    python benchmarks/tracing_cost.py --mode on
    python benchmarks/tracing_cost.py --mode off --root /tmp/before   # git archive of main

`off` is what every deployment without OTEL_EXPORTER_OTLP_ENDPOINT runs: run it in a checkout
from before tracing existed too (it needs nothing tracing adds) and compare. `on` exports every
span to the SDK's in-memory exporter, so it counts the spans' making, not a network. Each
round sends `--requests` authenticated `GET /api/v1/users/me` (a store read, the access log
formatted as JSON into /dev/null) through the whole ASGI app over httpx's ASGI transport;
the figure is the process CPU time per request of the best round, and the median round.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# --root DIR measures the Roomcast in DIR (a checkout from before tracing, say) instead.
ROOT = Path(sys.argv[sys.argv.index("--root") + 1] if "--root" in sys.argv
            else Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))


async def measure(mode: str, requests: int, rounds: int) -> list[float]:
    import httpx

    from core.models import Role
    from core.settings import Settings
    from roomcast.factory import build_services, create_asgi

    tracing = None
    if mode == "on":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        from core.tracing import Tracing

        exporter = InMemorySpanExporter()
        tracing = Tracing.with_exporter(exporter, "roomcast-bench")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(env="test", data_dir=Path(data_dir), _env_file=None,  # type: ignore[call-arg]
                            rate_limit_ip_per_minute=10**9, rate_limit_user_per_minute=10**9)
        services = (build_services(settings) if tracing is None
                    else build_services(settings, tracing=tracing))
        await services.start()
        user = await services.ctx.stores.users.create(email="bench@example.com", name="B",
                                                      password_hash=None, role=Role.MEMBER)
        token = services.ctx.tokens.issue(sub=user.id, role=user.role, typ="access").token
        transport = httpx.ASGITransport(app=create_asgi(services))
        per_request = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(20):  # warm-up
                await http.get("/api/v1/users/me")
            for _ in range(rounds):
                if tracing is not None:
                    exporter.clear()
                started = time.process_time()
                for _ in range(requests):
                    await http.get("/api/v1/users/me")
                per_request.append((time.process_time() - started) / requests)
        await services.close()
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["off", "on"], default="off")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--root", help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    from roomcast.logs import configure_logging

    configure_logging("INFO", json=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole run
    import roomcast

    assert Path(roomcast.__file__).is_relative_to(ROOT), roomcast.__file__
    rounds = asyncio.run(measure(args.mode, args.requests, args.rounds))
    print(f"tracing {args.mode}: {args.requests} requests x {args.rounds} rounds: "
          f"best {min(rounds) * 1e6:.0f} us, median {statistics.median(rounds) * 1e6:.0f} us "
          f"of CPU per request")


if __name__ == "__main__":
    main()
