"""Re-sending jobs whose message was lost, and announcing ends that did not get out.

Redis may restart without its data, and a message can be acknowledged by a worker that lost
the job's lease to another which then died. The job documents survive both: every worker
periodically re-sends unfinished jobs that nobody holds and that were last sent long ago.
A duplicate message is harmless: only one worker can claim a job. Likewise, a finished job
whose final event or notification could not be published is announced from its document.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.errors import RoomcastError
from core.ids import epoch_ms
from workers.announce import announce, hold_ms
from workers.deps import WorkerDeps

log = logging.getLogger("roomcast.workers")

Enqueue = Callable[[str, str], Awaitable[None]]


def stale_after_ms(deps: WorkerDeps) -> int:
    # Past the broker's own redelivery (reclaim) and a lease, with room to spare.
    settings = deps.settings
    return 2 * (settings.job_reclaim_idle_ms + int(settings.job_lease_seconds * 1000))


async def sweep_once(deps: WorkerDeps, enqueue: Enqueue) -> int:
    """Re-send abandoned jobs; return how many this process re-sent."""
    threshold = epoch_ms() - stale_after_ms(deps)
    sent = 0
    for job_id in await deps.stores.jobs.abandoned(threshold):
        if not await deps.stores.jobs.mark_enqueued(job_id, threshold):
            continue
        job = await deps.stores.jobs.get(job_id)
        if job is None:
            continue
        await enqueue(job.kind.value, job_id)
        sent += 1
        log.warning("re-sent abandoned job %s", job_id)
    return sent


async def announce_leftovers(deps: WorkerDeps) -> int:
    """Publish the ends of finished jobs still owed somewhere; return how many are done.

    One try per target and sweep: what fails is retried at the next sweep.
    """
    done = 0
    for job_id in await deps.stores.jobs.unannounced():
        job = await deps.stores.jobs.take_announcement(job_id, hold_ms(deps))
        if job is not None and await announce(deps, job, patience=0):
            done += 1
    return done


async def sweep_forever(deps: WorkerDeps, enqueue: Enqueue) -> None:
    interval = max(1.0, deps.settings.job_lease_seconds)
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_once(deps, enqueue)
            await announce_leftovers(deps)
        except RoomcastError as exc:
            log.warning("the job sweep failed: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the job sweep failed")
