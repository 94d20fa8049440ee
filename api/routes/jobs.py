"""REST routes: background jobs, their cancellation and their pictures."""

from __future__ import annotations

from starlette.responses import Response

from api.authz import require_member
from api.context import AppContext
from api.routes.jobs_common import JobOut, publish_job
from api.routes.uploads import object_response
from api.routing import Call, NoModel, Router
from core.errors import Conflict, NotFound
from core.models import Page, PageParams
from core.store.jobs import JobDoc, JobKind, JobStatus

router = Router(tags=["jobs"])


class JobPage(Page[JobOut]):
    pass


async def member_job(ctx: AppContext, call: Call[NoModel, NoModel]) -> JobDoc:
    job = await ctx.stores.jobs.get(call.path["job_id"])
    if job is None:
        raise NotFound("job not found")
    if job.kind == JobKind.PROJECT_DELETION and job.created_by == call.user.user_id:
        return job  # its project is gone: the head who deleted it follows it
    await require_member(ctx, job.project_id, call.user, "job")
    return job


@router.get("/jobs/{job_id}", response=JobOut, errors=(404,))
async def get_job(call: Call[NoModel, NoModel]) -> JobOut:
    """A job's state: status, stage, progress, attempts, error, result."""
    return JobOut.of(await member_job(call.ctx, call))


@router.get("/projects/{project_id}/jobs", query=PageParams, response=JobPage, errors=(404,))
async def list_jobs(call: Call[NoModel, PageParams]) -> JobPage:
    """The project's jobs, newest first."""
    project_id = call.path["project_id"]
    await require_member(call.ctx, project_id, call.user)
    page = await call.ctx.stores.jobs.list_for_project(project_id, call.query)
    return JobPage(items=[JobOut.of(j) for j in page.items], total=page.total,
                   limit=page.limit, offset=page.offset)


@router.post("/jobs/{job_id}/cancel", response=JobOut, status=202, errors=(404, 409))
async def cancel_job(call: Call[NoModel, NoModel]) -> JobOut:
    """Cancel a job: a queued one at once, a running one at its next step."""
    job = await member_job(call.ctx, call)
    if job.finished:
        raise Conflict(f"the job already {job.status.value}")
    flagged = await call.ctx.stores.jobs.request_cancel(job.id)
    if flagged is None:
        raise Conflict("the job already finished")
    # Nobody runs a queued job yet: it ends here; a running one is stopped by its worker.
    ended = await call.ctx.stores.jobs.finish(job.id, None, JobStatus.CANCELLED,
                                              stage="cancelled")
    if ended is not None:
        await publish_job(call.ctx, ended, "job.cancelled")
        return JobOut.of(ended)
    return JobOut.of(flagged)


@router.get("/jobs/{job_id}/artifacts/{name}", response_media="image/png", errors=(404,))
async def get_artifact(call: Call[NoModel, NoModel]) -> Response:
    """A picture of the job's result (a redirect to a presigned URL on S3)."""
    job = await member_job(call.ctx, call)
    pictures = (job.result or {}).get("pictures", [])
    match = next((p for p in pictures if p.get("name") == call.path["name"]), None)
    if match is None:
        raise NotFound("no such picture")
    return await object_response(call.ctx, match["key"], "image/png")
