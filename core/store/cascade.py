"""What goes when a project or a dataset goes: one cleanup per collection (and the objects it
points at), run in order by the project-deletion job and by `DELETE /datasets/{id}`.

A new collection under a project or a dataset adds its cleanup to PROJECT_CLEANUPS or
DATASET_CLEANUPS below (a dataset's cleanups also run for every dataset of a deleted project).
Each cleanup is idempotent: a deletion job that is run again after its worker died finishes
the work. Kept on purpose: audit events (the record of who did what outlives it) and mail
already in the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.objects import ObjectStorage
from core.store.chart_removal import remove_chart
from core.store.collection import Collection
from core.store.datasets import DatasetDoc
from core.store.stores import Stores


@dataclass(frozen=True)
class Cascade:
    stores: Stores
    objects: ObjectStorage
    project_id: str
    # The deletion's own job document, which stays as its record.
    keep_job_id: str | None = None

    def collection(self, name: str) -> Collection:
        return self.stores.db[name]

    async def ids(self, name: str, query: dict[str, Any]) -> list[str]:
        cursor = self.collection(name).find(query, {"_id": 1})
        return [str(doc["_id"]) async for doc in cursor]

    async def drop(self, name: str, query: dict[str, Any]) -> int:
        result = await self.collection(name).delete_many(query)
        return int(result.deleted_count)

    @property
    def owned(self) -> dict[str, Any]:
        return {"project_id": self.project_id}


ProjectCleanup = Callable[[Cascade], Awaitable[int]]
DatasetCleanup = Callable[[Cascade, DatasetDoc], Awaitable[int]]


async def _dataset_files(cascade: Cascade, dataset: DatasetDoc) -> int:
    await cascade.objects.delete(dataset.object_key)
    return 1 + await cascade.objects.delete_prefix(f"datasets/{dataset.id}/")


async def _records(cascade: Cascade, dataset: DatasetDoc) -> int:
    return await cascade.stores.records.delete_for_dataset(dataset.id)


async def _visualizations(cascade: Cascade, dataset: DatasetDoc) -> int:
    # A chart job still running stops at its next check (its job is cancelled, or gone with a
    # deleted project) and discards what it made.
    charts = await cascade.stores.visualizations.all_for_dataset(dataset.id)
    for chart in charts:
        await remove_chart(cascade.stores, cascade.objects, chart)
    return len(charts)


DATASET_CLEANUPS: tuple[tuple[str, DatasetCleanup], ...] = (
    ("records", _records),
    ("visualizations", _visualizations),
    ("dataset files", _dataset_files),
)


async def delete_dataset(cascade: Cascade, dataset: DatasetDoc) -> dict[str, int]:
    """Everything of one dataset, its document last (a retry finds it still to do)."""
    removed = {name: await cleanup(cascade, dataset) for name, cleanup in DATASET_CLEANUPS}
    removed["datasets"] = int(await cascade.stores.datasets.delete(dataset.id))
    return removed


async def _datasets(cascade: Cascade) -> int:
    count = 0
    for dataset_id in await cascade.ids("datasets", cascade.owned):
        dataset = await cascade.stores.datasets.get(dataset_id)
        if dataset is not None:
            await delete_dataset(cascade, dataset)
            count += 1
    return count


async def _meetings(cascade: Cascade) -> int:
    meetings = await cascade.ids("meetings", cascade.owned)
    await cascade.drop("meeting_messages", cascade.owned)
    await cascade.drop("attendance", {"meeting_id": {"$in": meetings}})
    await cascade.drop("meeting_series", cascade.owned)
    return await cascade.drop("meetings", cascade.owned)


async def _reminders(cascade: Cascade) -> int:
    # Schedules kept in the store (the embedded default) are named `{reminder_id}.v{n}`; one in
    # Redis fires, finds no reminder and sends nothing.
    for reminder_id in await cascade.ids("reminders", cascade.owned):
        await cascade.drop("schedules", {"_id": {"$regex": "^" + re.escape(reminder_id)}})
    return await cascade.drop("reminders", cascade.owned)


async def _notifications(cascade: Cascade) -> int:
    return await cascade.drop("notifications", {"data.project_id": cascade.project_id})


async def _muted(cascade: Cascade) -> int:
    result = await cascade.collection("preferences").update_many(
        {"muted_projects": cascade.project_id}, {"$pull": {"muted_projects": cascade.project_id}})
    return int(result.modified_count)


async def _uploads(cascade: Cascade) -> int:
    await cascade.objects.delete_prefix(f"uploads/{cascade.project_id}/")
    return await cascade.drop("uploads", cascade.owned)


async def _documents(cascade: Cascade) -> int:
    await cascade.objects.delete_prefix(f"documents/{cascade.project_id}/")
    await cascade.drop("document_versions", cascade.owned)
    await cascade.stores.storage_usage.forget(cascade.project_id)
    return await cascade.drop("documents", cascade.owned)


async def _models(cascade: Cascade) -> int:
    for model_id in await cascade.ids("models", cascade.owned):
        await cascade.objects.delete_prefix(f"models/{model_id}/")
    return await cascade.drop("models", cascade.owned)


async def _jobs(cascade: Cascade) -> int:
    query = {**cascade.owned, "_id": {"$ne": cascade.keep_job_id}}
    for job_id in await cascade.ids("jobs", query):
        await cascade.objects.delete_prefix(f"artifacts/{job_id}/")
        await cascade.objects.delete_prefix(f"datasets/{job_id}/")
    return await cascade.drop("jobs", query)


def _by_project(collection: str) -> ProjectCleanup:
    async def cleanup(cascade: Cascade) -> int:
        return await cascade.drop(collection, cascade.owned)

    return cleanup


# In order: what points at other things goes before what it points at.
PROJECT_CLEANUPS: tuple[tuple[str, ProjectCleanup], ...] = (
    ("meetings, messages and attendance", _meetings),
    ("reminders", _reminders),
    ("tasks", _by_project("tasks")),
    ("invitations", _by_project("invitations")),
    ("notifications", _notifications),
    ("muted projects", _muted),
    ("uploads", _uploads),
    ("documents", _documents),
    ("datasets", _datasets),
    ("models", _models),
    ("jobs", _jobs),
)
