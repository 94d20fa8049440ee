"""The seam through which the REST side starts a job without importing the workers."""

from __future__ import annotations

from typing import Protocol


class JobQueue(Protocol):
    async def enqueue(self, kind: str, job_id: str) -> None:
        """Hand job `job_id` of `kind` to the workers; raise ServiceUnavailable if it can't."""
        ...
