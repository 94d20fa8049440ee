"""Prometheus metrics of the job side: jobs, their stages, the queue, Taskiq's tasks, mail.

Built unregistered, so every `WorkerDeps` has them (tests included) and the composition root
registers them where they are served: the worker's own `/metrics` port, or `roomcast serve`'s
registry when jobs run in-process. Taskiq ships a `PrometheusMiddleware`, but it sets
`PROMETHEUS_MULTIPROC_DIR` for the whole process, registers unprefixed names in the global
registry and binds 0.0.0.0; `TaskMetricsMiddleware` counts the same things (received,
succeeded, failed, execution time per task) into Roomcast's own registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from core.mail.message import HandOver, MailDeliveryError, Mailer, MailMessage
from core.store.jobs import JobDoc, JobKind, JobStatus

# Jobs last from a second (a small upload) to many minutes (a forest on a big dataset).
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
TASK_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0)
FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class WorkerMetrics:
    """Counters and gauges of jobs, the queue and mail; `register` exposes them."""

    def __init__(self) -> None:
        kind = ["kind"]
        self.started = Counter("roomcast_jobs_started", "Job runs started (claimed) by a worker",
                               kind, registry=None)
        self.finished = Counter("roomcast_jobs_finished", "Jobs ended, by final status",
                                ["kind", "status"], registry=None)
        self.dead_lettered = Counter(
            "roomcast_jobs_dead_lettered",
            "Jobs failed for good after their last attempt (transient errors or dead workers)",
            kind, registry=None)
        self.retries = Counter("roomcast_job_retries",
                               "Attempts retried after a transient error", kind, registry=None)
        self.reclaims = Counter(
            "roomcast_job_lease_reclaims",
            "Jobs claimed again after an earlier attempt's worker stopped or died", kind,
            registry=None)
        self.in_flight = Gauge("roomcast_jobs_in_flight", "Jobs running in this process now",
                               kind, registry=None)
        self.duration = Histogram(
            "roomcast_job_duration_seconds", "Time from a job's claim to its end in this process",
            ["kind", "status"], buckets=JOB_BUCKETS, registry=None)
        self.stage_duration = Histogram(
            "roomcast_job_stage_duration_seconds", "Time a job spent in one stage",
            ["kind", "stage"], buckets=JOB_BUCKETS, registry=None)
        self.tasks = Counter("roomcast_tasks", "Taskiq tasks executed in this process, by result",
                             ["task", "result"], registry=None)
        self.task_duration = Histogram(
            "roomcast_task_duration_seconds", "Execution time of a Taskiq task", ["task"],
            buckets=TASK_BUCKETS, registry=None)
        self.queue_length = Gauge("roomcast_queue_length",
                                  "Entries in the job stream (Redis XLEN)", ["queue"],
                                  registry=None)
        self.queue_pending = Gauge(
            "roomcast_queue_pending", "Stream entries delivered to a worker and not acknowledged",
            ["queue"], registry=None)
        self.queue_undelivered = Gauge(
            "roomcast_queue_undelivered", "Stream entries no worker has read yet", ["queue"],
            registry=None)
        self.queue_oldest_pending_age = Gauge(
            "roomcast_queue_oldest_pending_age_seconds",
            "Age of the oldest unacknowledged stream entry", ["queue"], registry=None)
        self.jobs_queued = Gauge("roomcast_jobs_queued",
                                 "Jobs waiting for a worker (the store's queued jobs)",
                                 registry=None)
        self.jobs_oldest_queued_age = Gauge(
            "roomcast_jobs_oldest_queued_age_seconds",
            "How long the oldest queued job has waited since it was last sent", registry=None)
        self.queue_sample_errors = Counter(
            "roomcast_queue_sample_errors", "Failed reads of the queue's depth", ["source"],
            registry=None)
        self.mail_sent = Counter("roomcast_mail_sent", "Mails handed over for delivery",
                                 registry=None)
        self.mail_failed = Counter("roomcast_mail_failed", "Mail delivery attempts that failed",
                                   registry=None)
        for value in JobKind:
            self._precreate(value.value)
        # job id -> (kind, stage, monotonic time the stage began, claim time)
        self._open: dict[str, tuple[str, str, float, float]] = {}

    def _precreate(self, kind: str) -> None:
        # Series exist at 0 from the start, so rate() and alerts see the first increment.
        for metric in (self.started, self.dead_lettered, self.retries, self.reclaims,
                       self.in_flight):
            metric.labels(kind)
        for status in FINAL_STATUSES:
            self.finished.labels(kind, status.value)

    def collectors(self) -> Iterable[Any]:
        return [value for value in vars(self).values()
                if isinstance(value, Counter | Gauge | Histogram)]

    def register(self, registry: CollectorRegistry) -> WorkerMetrics:
        for collector in self.collectors():
            registry.register(collector)
        return self

    def job_started(self, job: JobDoc) -> None:
        kind = job.kind.value
        self.started.labels(kind).inc()
        if job.attempts > 1:
            self.reclaims.labels(kind).inc()
        self.in_flight.labels(kind).inc()
        now = time.monotonic()
        self._open[job.id] = (kind, "starting", now, now)

    def job_stage(self, job: JobDoc, stage: str) -> None:
        """The job moved to `stage`: the stage it leaves gets its duration."""
        opened = self._open.get(job.id)
        if opened is None or opened[1] == stage:
            return
        kind, previous, since, claimed = opened
        now = time.monotonic()
        self.stage_duration.labels(kind, previous).observe(now - since)
        self._open[job.id] = (kind, stage, now, claimed)

    def job_retried(self, job: JobDoc) -> None:
        self.retries.labels(job.kind.value).inc()

    def job_dead_lettered(self, job: JobDoc) -> None:
        self.dead_lettered.labels(job.kind.value).inc()

    def job_ended(self, job: JobDoc, status: JobStatus) -> None:
        self.finished.labels(job.kind.value, status.value).inc()
        self.job_stage(job, status.value)
        opened = self._open.get(job.id)
        if opened is not None:
            self.duration.labels(opened[0], status.value).observe(time.monotonic() - opened[3])

    def job_left(self, job: JobDoc) -> None:
        """This process no longer runs the job (ended, taken over, or the worker stops)."""
        if self._open.pop(job.id, None) is not None:
            self.in_flight.labels(job.kind.value).dec()


class TaskMetricsMiddleware(TaskiqMiddleware):
    """What Taskiq's PrometheusMiddleware counts, into `WorkerMetrics`."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        outcome = "error" if result.is_err else "ok"
        self._metrics.tasks.labels(message.task_name, outcome).inc()
        self._metrics.task_duration.labels(message.task_name).observe(result.execution_time)


class CountingMailer:
    """A `Mailer` that counts what its backend sent and what failed."""

    def __init__(self, mailer: Mailer, metrics: WorkerMetrics) -> None:
        self._mailer = mailer
        self._metrics = metrics

    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        try:
            await self._mailer.send(message, hand_over)
        except MailDeliveryError:
            self._metrics.mail_failed.inc()
            raise
        self._metrics.mail_sent.inc()
