"""The seam through which the REST side (and the workers) hand work to Taskiq without
importing it: run a task now, or at a time (a dynamic schedule), or drop a schedule. The
composition root fills it with Taskiq's broker and schedule source (workers/schedule/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

# The tasks, by name (registered in workers/schedule/tasks.py).
SEND_MAIL = "roomcast.send_mail"  # mail_id
REMIND = "roomcast.remind"  # reminder_id, version
SWEEP = "roomcast.sweep"  # every minute: due reminders and mail whose trigger was lost
DIGEST = "roomcast.digest"  # daily, at DIGEST_HOUR (UTC)


class Dispatch(Protocol):
    async def now(self, task: str, **kwargs: Any) -> None:
        """Queue the task; ServiceUnavailable if the queue cannot be reached."""
        ...

    async def at(self, schedule_id: str, when: datetime, task: str, **kwargs: Any) -> None:
        """Run the task at `when` (a one-off schedule); ServiceUnavailable as above."""
        ...

    async def cancel(self, schedule_id: str) -> None:
        """Drop the schedule if it has not fired; ServiceUnavailable as above."""
        ...
