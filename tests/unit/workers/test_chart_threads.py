"""A chart job waiting for work in a thread still notices a cancellation: it stops while the
work is under way, rather than when the work ends."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.unit.workers.test_progress import _setup
from workers.charts.job import in_thread
from workers.errors import JobCancelled
from workers.progress import JobProgressReporter


async def test_a_cancel_stops_the_job_while_its_thread_still_works(tmp_path: Path) -> None:
    deps, job, _ = await _setup(tmp_path)
    report = JobProgressReporter(deps, job)
    release, started = threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        release.wait(60)  # bounded, and released below whatever happens
        return "done"

    waiting = asyncio.create_task(in_thread(report, "aggregating", 55, work))
    try:
        assert await asyncio.to_thread(started.wait, 30)
        await deps.stores.jobs.request_cancel(job.id)
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(waiting, 30)
        assert not release.is_set()  # the work had not ended: the job stopped first
    finally:
        release.set()


async def test_work_that_ends_gives_its_result(tmp_path: Path) -> None:
    deps, job, _ = await _setup(tmp_path)
    report = JobProgressReporter(deps, job)
    assert await in_thread(report, "rendering", 70, sum, [1, 2, 3]) == 6
