"""Start-up on the embedded store: what the process before this one left unfinished.

The embedded store has one owner process, so at start-up nothing else can be running a job
or holding a connection: every unfinished job is handed to the job runner again (it resumes
from the start, and fails with `too_many_attempts` once its attempts are spent), and every
meeting stay still open is ended. Presence and room history live in the process and start
empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.ids import utcnow
from core.jobqueue import JobQueue
from core.store.jobs import JobDoc
from core.store.stores import Stores

log = logging.getLogger("roomcast")


@dataclass(frozen=True)
class Leftovers:
    jobs: list[JobDoc]
    stays: int

    @classmethod
    async def take(cls, stores: Stores) -> Leftovers:
        """Release the unfinished jobs and end the open stays, before anything else runs."""
        return cls(await stores.jobs.release_unfinished(),
                   await stores.attendance.close_all(utcnow()))

    async def resume(self, queue: JobQueue) -> None:
        for job in self.jobs:
            await queue.enqueue(job.kind.value, job.id)
        if self.jobs or self.stays:
            log.info("resumed %d unfinished jobs and ended %d meeting stays left by the "
                     "previous run", len(self.jobs), self.stays)
