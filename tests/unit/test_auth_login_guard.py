"""Backoff after failed sign-ins, on an injected clock (no sleeping, no timing)."""

from __future__ import annotations

import pytest

from core.errors import RateLimited
from core.login_guard import BackoffPolicy, MemoryLoginGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


POLICY = BackoffPolicy(max_failures=3, base_seconds=2.0, max_seconds=10.0)


def test_lock_grows_exponentially_up_to_the_cap() -> None:
    assert [POLICY.lock_seconds(n) for n in range(1, 8)] == [0, 0, 2, 4, 8, 10, 10]


def test_lock_seconds_never_overflows() -> None:
    assert POLICY.lock_seconds(10_000) == 10.0


async def test_locked_after_max_failures_with_growing_retry_after() -> None:
    clock = FakeClock()
    guard = MemoryLoginGuard(POLICY, clock=clock)
    keys = ["account:a@x", "ip:1.2.3.4"]
    for _ in range(2):
        await guard.check(keys)
        await guard.failed(keys)
    await guard.check(keys)  # two failures: still allowed
    await guard.failed(keys)
    with pytest.raises(RateLimited) as first:
        await guard.check(keys)
    assert first.value.retry_after == pytest.approx(2.0)
    clock.now += 2.0
    await guard.check(keys)  # the lock has passed
    await guard.failed(keys)
    with pytest.raises(RateLimited) as second:
        await guard.check(keys)
    assert second.value.retry_after == pytest.approx(4.0)


async def test_success_resets_only_the_keys_given() -> None:
    clock = FakeClock()
    guard = MemoryLoginGuard(POLICY, clock=clock)
    for _ in range(3):
        await guard.failed(["account:a@x", "ip:1.2.3.4"])
    await guard.succeeded(["account:a@x"])
    await guard.check(["account:a@x"])
    with pytest.raises(RateLimited):
        await guard.check(["ip:1.2.3.4"])


async def test_other_keys_are_unaffected() -> None:
    guard = MemoryLoginGuard(POLICY, clock=FakeClock())
    for _ in range(3):
        await guard.failed(["account:a@x"])
    with pytest.raises(RateLimited):
        await guard.check(["account:a@x"])
    await guard.check(["account:b@x", "ip:5.6.7.8"])  # raises if the lock reached them


async def test_failures_are_forgotten_after_a_quiet_period() -> None:
    clock = FakeClock()
    guard = MemoryLoginGuard(POLICY, clock=clock)
    for _ in range(2):
        await guard.failed(["ip:1.2.3.4"])
    clock.now += POLICY.memory_seconds + 1
    await guard.failed(["ip:1.2.3.4"])
    await guard.check(["ip:1.2.3.4"])  # one fresh failure, not three
    await guard.failed(["ip:1.2.3.4"])
    await guard.check(["ip:1.2.3.4"])  # two
    await guard.failed(["ip:1.2.3.4"])
    with pytest.raises(RateLimited):  # the third fresh failure locks, as counting restarted
        await guard.check(["ip:1.2.3.4"])
