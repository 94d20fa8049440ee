"""REST route: deleting a dataset, with its records, charts and stored objects."""

from __future__ import annotations

from api.authz import require_member
from api.routes.datasets import member_dataset
from api.routes.jobs_common import publish_job
from api.routes.projects import publish
from api.routing import Call, NoModel, Router
from core.errors import Forbidden
from core.models import ProjectRole
from core.store.dataset_removal import remove_dataset

router = Router(tags=["datasets"])


@router.delete("/datasets/{dataset_id}", status=204, errors=(403, 404))
async def delete_dataset(call: Call[NoModel, NoModel]) -> None:
    """Delete a dataset (its creator, a head or an admin) with its record changes, its charts
    and their images, and its Parquet object; chart jobs still running on it are cancelled.
    The upload it came from and models trained on it stay."""
    dataset = await member_dataset(call.ctx, call)
    role = await require_member(call.ctx, dataset.project_id, call.user, "dataset")
    if role != ProjectRole.HEAD and dataset.created_by != call.user.user_id:
        raise Forbidden("only the dataset's creator or a head may delete it")
    removed = await remove_dataset(call.ctx.stores, call.ctx.objects, dataset)
    for job in removed.cancelled:
        await publish_job(call.ctx, job, "job.cancelled")
    await publish(call.ctx, f"project:{dataset.project_id}", "dataset.deleted",
                  {"dataset_id": dataset.id, "by": call.user.user_id})
