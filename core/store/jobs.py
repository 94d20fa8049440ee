"""Background jobs: ingestion and analyses, with their state and progress.

A job is claimed by one worker at a time through a lease (owner + expiry in epoch ms). Every
transition is a conditional update, so a redelivered task can neither run a finished job again
nor announce it finished twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.ids import epoch_ms, new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobKind(StrEnum):
    INGEST = "ingest"
    ANALYSIS = "analysis"
    PREDICTION = "prediction"
    VISUALIZATION = "visualization"
    PREVIEW = "preview"  # a document version's thumbnail or first page
    PROJECT_DELETION = "project_deletion"  # everything under a deleted project


ACTIVE = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]


class JobDoc(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    kind: JobKind
    created_by: str
    status: JobStatus = JobStatus.QUEUED
    stage: str = "queued"
    progress: int = 0
    attempts: int = 0
    max_attempts: int = 3
    params: dict[str, Any] = {}
    upload_id: str | None = None
    dataset_id: str | None = None
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_until: int = 0
    # Where the final event is still owed (room names, and NOTIFICATION for the creator's
    # notification), and until when (epoch ms) one worker is busy announcing it.
    announce_pending: list[str] = []
    announce_until: int = 0
    # When the job was last handed to the broker (epoch ms): the sweeper re-sends old ones.
    enqueued_ms: int = Field(default_factory=epoch_ms)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status not in (JobStatus.QUEUED, JobStatus.RUNNING)


NOTIFICATION = "notification"  # the announcement target for the creator's notification
FINAL = [JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value]


class JobView(BaseModel):
    """A job as clients see it (REST and the `job:` room's join ack): no lease, no bookkeeping."""

    id: str
    project_id: str
    kind: JobKind
    status: JobStatus
    stage: str
    progress: int
    attempts: int
    max_attempts: int
    params: dict[str, Any]
    upload_id: str | None
    dataset_id: str | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    cancel_requested: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobDoc) -> Self:
        return cls.model_validate(job.model_dump())


class JobRepository(Repository[JobDoc]):
    collection_name = "jobs"
    model = JobDoc

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])
        # The queue-depth sample (queued jobs, the oldest first) and the admins' list by status.
        await self._c.create_index([("status", ASCENDING), ("enqueued_ms", ASCENDING)])
        await self._c.create_index([("status", ASCENDING), ("created_at", DESCENDING)])

    async def create(self, job: JobDoc) -> JobDoc:
        await self._c.insert_one(self._dump(job))
        return job

    async def get(self, job_id: str) -> JobDoc | None:
        return await self._get(_id=job_id)

    async def list_for_project(self, project_id: str, params: PageParams) -> Page[JobDoc]:
        return await self._page(
            {"project_id": project_id}, params, [("created_at", DESCENDING), ("_id", ASCENDING)]
        )

    async def claim(self, job_id: str, owner: str, lease_ms: int) -> JobDoc | None:
        """Take the job if it is still to do and no live worker holds it; count the attempt."""
        now = epoch_ms()
        doc = await self._c.find_one_and_update(
            {"_id": job_id, "status": {"$in": ACTIVE}, "lease_until": {"$lt": now}},
            {
                "$set": {
                    "status": JobStatus.RUNNING.value, "lease_owner": owner,
                    "lease_until": now + lease_ms, "updated_at": utcnow(),
                    "started_at": utcnow(),
                },
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def heartbeat(
        self, job_id: str, owner: str, lease_ms: int, **fields: Any
    ) -> JobDoc | None:
        """Extend the lease (and record progress); None when the job is no longer ours."""
        fields.update(lease_until=epoch_ms() + lease_ms, updated_at=utcnow())
        doc = await self._c.find_one_and_update(
            {"_id": job_id, "status": JobStatus.RUNNING.value, "lease_owner": owner},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def count_attempt(self, job_id: str, owner: str) -> None:
        await self._c.update_one(
            {"_id": job_id, "lease_owner": owner}, {"$inc": {"attempts": 1}}
        )

    async def finish(
        self, job_id: str, owner: str | None, status: JobStatus, **fields: Any
    ) -> JobDoc | None:
        """Move an active job to a final status; None if it already was final or not ours."""
        query: dict[str, Any] = {"_id": job_id, "status": {"$in": ACTIVE}}
        if owner is not None:
            query["lease_owner"] = owner
        else:
            query["status"] = JobStatus.QUEUED.value
        fields.update(
            status=status.value, lease_until=0, updated_at=utcnow(), finished_at=utcnow()
        )
        doc = await self._c.find_one_and_update(
            query, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else self._load(doc)

    async def release(self, job_id: str, owner: str) -> None:
        """Give the lease up (a worker shutting down), so another may take the job at once."""
        await self._c.update_one(
            {"_id": job_id, "status": JobStatus.RUNNING.value, "lease_owner": owner},
            {"$set": {"lease_until": 0, "updated_at": utcnow()}},
        )

    async def abandoned(self, older_than_ms: int, limit: int = 100) -> list[str]:
        """Unfinished jobs nobody holds, last sent to the broker before `older_than_ms`."""
        now = epoch_ms()
        cursor = self._c.find(
            {"status": {"$in": ACTIVE}, "lease_until": {"$lt": now},
             "enqueued_ms": {"$lt": older_than_ms}},
            {"_id": 1, "enqueued_ms": 1},
        ).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def page_by_status(self, params: PageParams, status: JobStatus | None = None,
                             kind: JobKind | None = None) -> Page[JobDoc]:
        """Every project's jobs, newest first, optionally of one status and kind (admins)."""
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status.value
        if kind is not None:
            query["kind"] = kind.value
        return await self._page(query, params, [("created_at", DESCENDING), ("_id", ASCENDING)])

    async def requeue_failed(self, job_id: str) -> JobDoc | None:
        """Make a failed job queued again from its first attempt; None unless it is failed."""
        doc = await self._c.find_one_and_update(
            {"_id": job_id, "status": JobStatus.FAILED.value},
            {"$set": {
                "status": JobStatus.QUEUED.value, "stage": "queued", "progress": 0,
                "attempts": 0, "error_code": None, "error_message": None, "result": None,
                "cancel_requested": False, "lease_owner": None, "lease_until": 0,
                "announce_pending": [], "announce_until": 0, "enqueued_ms": epoch_ms(),
                "updated_at": utcnow(), "started_at": None, "finished_at": None,
            }},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def queued_summary(self) -> tuple[int, int | None]:
        """How many jobs wait for a worker, and when the oldest of them was last sent (ms)."""
        query = {"status": JobStatus.QUEUED.value}
        count = await self._c.count_documents(query)
        oldest = await self._c.find_one(query, {"enqueued_ms": 1}, sort=[("enqueued_ms", 1)])
        return count, None if oldest is None else int(oldest["enqueued_ms"])

    async def mark_enqueued(self, job_id: str, older_than_ms: int) -> bool:
        """Record a re-send; False if another process re-sent it first."""
        result = await self._c.update_one(
            {"_id": job_id, "enqueued_ms": {"$lt": older_than_ms}},
            {"$set": {"enqueued_ms": epoch_ms()}},
        )
        return bool(result.modified_count)

    async def take_announcement(self, job_id: str, hold_ms: int) -> JobDoc | None:
        """Become the one announcing a finished job's end; None if nothing is owed or another
        process is at it."""
        now = epoch_ms()
        doc = await self._c.find_one_and_update(
            {"_id": job_id, "status": {"$in": FINAL}, "announce_pending.0": {"$exists": True},
             "announce_until": {"$lt": now}},
            {"$set": {"announce_until": now + hold_ms}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)

    async def announced(self, job_id: str, target: str) -> None:
        await self._c.update_one({"_id": job_id}, {"$pull": {"announce_pending": target}})

    async def release_announcement(self, job_id: str) -> None:
        """Leave what is still owed to whoever comes next (a redelivery, the sweeper)."""
        await self._c.update_one({"_id": job_id}, {"$set": {"announce_until": 0}})

    async def unannounced(self, limit: int = 100) -> list[str]:
        """Finished jobs whose end is still owed somewhere and that nobody is announcing."""
        cursor = self._c.find(
            {"status": {"$in": FINAL}, "announce_pending.0": {"$exists": True},
             "announce_until": {"$lt": epoch_ms()}},
            {"_id": 1},
        ).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def release_unfinished(self) -> list[JobDoc]:
        """Give up the lease of every unfinished job and return them: for a process that owns
        the store alone (the embedded one) at start-up, when no live worker can hold one."""
        await self._c.update_many(
            {"status": {"$in": ACTIVE}},
            {"$set": {"lease_owner": None, "lease_until": 0, "updated_at": utcnow()}},
        )
        cursor = self._c.find({"status": {"$in": ACTIVE}}).sort([("created_at", ASCENDING)])
        return [self._load(doc) async for doc in cursor]

    async def request_cancel(self, job_id: str) -> JobDoc | None:
        doc = await self._c.find_one_and_update(
            {"_id": job_id, "status": {"$in": ACTIVE}},
            {"$set": {"cancel_requested": True, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else self._load(doc)


Algorithm = Literal["kmeans", "decision_tree", "random_forest", "decision_tree_regressor",
                    "random_forest_regressor"]
Task = Literal["clustering", "classification", "regression"]
Criterion = Literal["gini", "entropy", "squared_error"]


@dataclass(frozen=True)
class AlgorithmSpec:
    """What `GET /ml/algorithms` says of an algorithm: its task and which parameters apply."""

    title: str
    task: Task
    description: str
    parameters: tuple[str, ...]
    criteria: tuple[Criterion, ...] = ()


_TREE = ("max_depth", "min_samples_leaf", "criterion")
_SUPERVISED = ("features", "target", "test_fraction", "standardize", "seed")
ALGORITHMS: dict[str, AlgorithmSpec] = {
    "kmeans": AlgorithmSpec(
        "k-means", "clustering",
        "Groups the rows into k clusters (k-means++ seeding, best of `restarts` runs by "
        "inertia). The saved model assigns new rows to the nearest centre.",
        ("features", "k", "restarts", "max_iter", "standardize", "seed")),
    "decision_tree": AlgorithmSpec(
        "Decision tree classifier", "classification",
        "A CART tree predicting a categorical target; accuracy, confusion matrix, feature "
        "importances.", (*_SUPERVISED, *_TREE), ("gini", "entropy")),
    "random_forest": AlgorithmSpec(
        "Random forest classifier", "classification",
        "Bootstrap-sampled CART trees, each node trying the square root of the feature count; "
        "class shares averaged.", (*_SUPERVISED, *_TREE, "n_estimators"), ("gini", "entropy")),
    "decision_tree_regressor": AlgorithmSpec(
        "Decision tree regressor", "regression",
        "A CART tree predicting a numeric target (squared error); R², MAE, RMSE, feature "
        "importances, predicted against actual.", (*_SUPERVISED, *_TREE), ("squared_error",)),
    "random_forest_regressor": AlgorithmSpec(
        "Random forest regressor", "regression",
        "Bootstrap-sampled regression trees, each node trying a third of the features; "
        "predictions averaged.", (*_SUPERVISED, *_TREE, "n_estimators"), ("squared_error",)),
}


class AnalysisParams(BaseModel):
    """What `POST /datasets/{id}/analyses` accepts; checked against the dataset before queuing."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Algorithm = Field(description="the algorithm to run (see GET /ml/algorithms)")
    features: list[Annotated[str, StringConstraints(min_length=1, max_length=1000)]] | None = Field(
        default=None, max_length=500,
        description="numeric columns to use; default: every numeric column but the target")
    k: int = Field(default=3, ge=2, le=50, description="number of clusters")
    restarts: int = Field(default=5, ge=1, le=50,
                          description="k-means runs from different seeds; the best is kept")
    max_iter: int = Field(default=300, ge=1, le=10_000,
                          description="iterations per k-means run at most")
    standardize: bool = Field(default=True,
                              description="scale each feature to zero mean and unit variance")
    target: str | None = Field(
        default=None, min_length=1, max_length=1000,
        description="the column to predict: categorical for classifiers, numeric for "
        "regressors; never one of the features")
    test_fraction: float = Field(default=0.25, ge=0.05, le=0.5,
                                 description="share of rows held out for the scores")
    max_depth: int | None = Field(default=None, ge=1, le=64,
                                  description="deepest split; none: grow until leaves are pure")
    min_samples_leaf: int = Field(default=1, ge=1, le=10_000,
                                  description="fewest training rows in a leaf")
    n_estimators: int = Field(default=50, ge=1, le=500, description="trees in the forest")
    criterion: Criterion | None = Field(
        default=None, description="split quality: gini (default) or entropy for classifiers, "
        "squared_error (the only one) for regressors")
    seed: int = Field(default=0, ge=0, description="every random choice derives from it")

    @model_validator(mode="after")
    def _consistent(self) -> AnalysisParams:
        spec = ALGORITHMS[self.algorithm]
        foreign = sorted(self.model_fields_set - {"algorithm", *spec.parameters})
        if foreign:
            # The algorithm's own schema (GET /ml/algorithms) has no such field: a k for a
            # tree, a target for k-means would be silently ignored, or worse, used.
            raise PydanticCustomError(
                "parameter_not_applicable", "{fields} do not apply to {algorithm}",
                {"fields": ", ".join(foreign), "algorithm": self.algorithm})
        if self.features is not None and len(set(self.features)) != len(self.features):
            raise PydanticCustomError("duplicate_feature", "a feature is listed twice", {})
        if self.target is not None and self.features and self.target in self.features:
            raise PydanticCustomError(
                "target_in_features", "the target {target} is also listed among the features",
                {"target": self.target})
        if self.criterion is not None and self.criterion not in spec.criteria:
            raise PydanticCustomError(
                "criterion_mismatch", "criterion {criterion} does not apply to {algorithm}",
                {"criterion": self.criterion, "algorithm": self.algorithm})
        return self

    def stored(self) -> dict[str, Any]:
        """The parameters as a job keeps them: the algorithm's own, defaults filled in."""
        own = {"algorithm", *ALGORITHMS[self.algorithm].parameters}
        return {k: v for k, v in self.model_dump(mode="json").items() if k in own}

    @classmethod
    def from_stored(cls, params: dict[str, Any]) -> AnalysisParams:
        """Read what a job keeps; a job queued before parameters were checked per algorithm
        may hold the others too, with their defaults: they are left out."""
        spec = ALGORITHMS.get(str(params.get("algorithm")))
        if spec is not None:
            params = {k: v for k, v in params.items() if k in {"algorithm", *spec.parameters}}
        return cls.model_validate(params)

    @property
    def task(self) -> Task:
        return ALGORITHMS[self.algorithm].task

    @property
    def split_criterion(self) -> Criterion:
        return self.criterion or ALGORITHMS[self.algorithm].criteria[0]
