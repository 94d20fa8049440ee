"""REST route: deleting a dataset with everything made from it that lives under it (its file,
and whatever core/store/cascade.py's DATASET_CLEANUPS lists)."""

from __future__ import annotations

from api.authz import require_member
from api.routes.projects import publish
from api.routes.visualizations import drop_charts_of
from api.routing import Call, NoModel, Router
from core.errors import Forbidden, NotFound
from core.models import ProjectRole
from core.store.cascade import Cascade, delete_dataset

router = Router(tags=["datasets"])


@router.delete("/datasets/{dataset_id}", status=204, errors=(403, 404))
async def delete_dataset_route(call: Call[NoModel, NoModel]) -> None:
    """Delete a dataset and its file (its creator or a head); models trained on it, and
    datasets predicted from it, stay."""
    ctx = call.ctx
    dataset = await ctx.stores.datasets.get(call.path["dataset_id"])
    if dataset is None:
        raise NotFound("dataset not found")
    role = await require_member(ctx, dataset.project_id, call.user, "dataset")
    if dataset.created_by != call.user.user_id and role != ProjectRole.HEAD:
        raise Forbidden("only its creator or a head of the project may delete it")
    await drop_charts_of(ctx, dataset.id)  # chart jobs cancelled live, before the cascade
    removed = await delete_dataset(Cascade(ctx.stores, ctx.objects, dataset.project_id),
                                   dataset)
    if not removed["datasets"]:
        raise NotFound("dataset not found")
    await publish(ctx, f"project:{dataset.project_id}", "dataset.deleted",
                  {"dataset_id": dataset.id, "by": call.user.user_id})
