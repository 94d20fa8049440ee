"""Starting a handler in the caller's turn: a handler that never waits ends before `start`
returns; one that waits goes on as a task with the same results, errors, cancellation and
context as a task made from the start. Each case runs through `start` (asyncio's eager task
on 3.12+) and through `first_step`, the 3.11 path, on every version."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from realtime import eager

Starter = Callable[[Coroutine[Any, Any, None], set[asyncio.Task[None]]], None]


def _via_first_step(coro: Coroutine[Any, Any, None], running: set[asyncio.Task[None]]) -> None:
    task = eager.first_step(asyncio.get_running_loop(), coro)
    if task is not None:
        running.add(task)
        task.add_done_callback(running.discard)


STARTERS = [pytest.param(eager.start, id="start"),
            pytest.param(_via_first_step, id="first_step")]
var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")


@pytest.mark.parametrize("begin", STARTERS)
async def test_a_handler_that_never_waits_ends_before_start_returns(begin: Starter) -> None:
    seen: list[str] = []

    async def handler() -> None:
        seen.append("ran")

    running: set[asyncio.Task[None]] = set()
    begin(handler(), running)
    assert seen == ["ran"]
    assert not running


@pytest.mark.parametrize("begin", STARTERS)
async def test_a_handler_that_waits_runs_to_its_wait_then_goes_on(begin: Starter) -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    seen: list[Any] = []

    async def handler() -> None:
        seen.append("before")
        seen.append(await gate)
        await asyncio.sleep(0)  # a bare yield to the loop
        seen.append(await asyncio.sleep(0.001, result="slept"))

    running: set[asyncio.Task[None]] = set()
    begin(handler(), running)
    assert seen == ["before"]
    (task,) = running
    gate.set_result(7)
    await task
    assert seen == ["before", 7, "slept"]
    assert not running


@pytest.mark.parametrize("begin", STARTERS)
async def test_an_error_after_the_wait_ends_the_task_with_it(begin: Starter) -> None:
    async def handler() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    running: set[asyncio.Task[None]] = set()
    begin(handler(), running)
    (task,) = running
    with pytest.raises(ValueError, match="boom"):
        await task


@pytest.mark.parametrize("begin", STARTERS)
async def test_cancelling_the_task_cancels_the_wait(begin: Starter) -> None:
    cleaned: list[bool] = []

    async def handler() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    running: set[asyncio.Task[None]] = set()
    begin(handler(), running)
    (task,) = running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


@pytest.mark.parametrize("begin", STARTERS)
async def test_the_handler_has_a_context_of_its_own(begin: Starter) -> None:
    seen: list[str] = []

    async def handler() -> None:
        var.set("inside")
        await asyncio.sleep(0)
        seen.append(var.get())

    running: set[asyncio.Task[None]] = set()
    begin(handler(), running)
    assert var.get() == "outside"  # nothing set in the handler leaks into the caller
    await asyncio.gather(*running)
    assert seen == ["inside"]  # and the rest of the handler sees what its start set
