"""`both`: a join's presence and history steps run at once, and neither outlives the join."""

from __future__ import annotations

import asyncio

import pytest

from realtime.handlers import both


async def test_both_answers_each_step() -> None:
    async def step(value: int) -> int:
        await asyncio.sleep(0)
        return value

    assert await both(step(1), step(2)) == (1, 2)


async def test_a_failed_step_is_raised_only_once_the_other_ended() -> None:
    release = asyncio.Event()
    ended: list[str] = []

    async def slow() -> str:
        await release.wait()
        ended.append("slow")
        return "slow"

    async def failing() -> str:
        release.set()  # the other step can only end after this one has begun to fail
        raise LookupError("no such room")

    with pytest.raises(LookupError):
        await both(slow(), failing())
    assert ended == ["slow"]


async def test_the_first_step_failing_is_raised_after_the_second_ended() -> None:
    ended: list[str] = []

    async def failing() -> str:
        raise LookupError("no such room")

    async def second() -> str:
        await asyncio.sleep(0)
        ended.append("second")
        return "second"

    with pytest.raises(LookupError):
        await both(failing(), second())
    assert ended == ["second"]


async def test_cancelling_the_join_cancels_both_steps() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    both_started, both_cancelled = asyncio.Event(), asyncio.Event()

    async def waits(name: str) -> None:
        started.append(name)
        if len(started) == 2:
            both_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            if len(cancelled) == 2:
                both_cancelled.set()
            raise

    join = asyncio.ensure_future(both(waits("first"), waits("second")))
    await both_started.wait()
    join.cancel()
    with pytest.raises(asyncio.CancelledError):
        await join
    await both_cancelled.wait()
    assert sorted(cancelled) == ["first", "second"]
