"""The open-loop schedule of the load scenarios: every send on time, and no busy waiting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from load.scenarios import base
from load.scenarios.base import MIN_SLEEP, paced


async def test_a_fast_schedule_sends_everything_without_spinning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def counted(delay: float, *args: Any) -> None:
        sleeps.append(delay)
        await real_sleep(delay, *args)

    monkeypatch.setattr(base.asyncio, "sleep", counted)
    sent: list[int] = []
    rate, duration = 20_000.0, 0.25  # one send every 50 microseconds
    assert await paced(rate, duration, sent.append) == 5000
    assert sent == list(range(5000))
    # Sends that come due together go out together: at most one wake-up per millisecond
    # (plus scheduling slack), where waking for each send would be thousands of wake-ups.
    assert min(sleeps) >= MIN_SLEEP
    assert len(sleeps) <= duration / MIN_SLEEP + 50


async def test_a_slow_schedule_sleeps_until_each_send() -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []
    start = loop.time()
    await paced(20.0, 0.2, lambda n: times.append(loop.time() - start))
    assert len(times) == 4
    assert all(t >= n / 20.0 - 0.001 for n, t in enumerate(times))
