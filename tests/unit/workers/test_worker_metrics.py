"""WorkerMetrics' own bookkeeping: stages, reclaims, in-flight jobs, counted mail."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from core.mail.message import HandOver, MailDeliveryError, MailMessage
from core.store.jobs import JobDoc, JobKind, JobStatus
from tests.support.metrics import Scrape
from workers.metrics import CountingMailer, WorkerMetrics


def scrape(registry: CollectorRegistry) -> Scrape:
    from prometheus_client import generate_latest

    return Scrape(generate_latest(registry).decode())


def test_a_reclaimed_job_counts_its_stages_once_and_leaves_the_in_flight_gauge() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics().register(registry)
    job = JobDoc(project_id="p", kind=JobKind.ANALYSIS, created_by="u", attempts=2)
    metrics.job_started(job)
    assert scrape(registry).value("roomcast_jobs_in_flight", kind="analysis") == 1
    for stage in ("loading", "loading", "fitting"):
        metrics.job_stage(job, stage)
    metrics.job_retried(job)
    metrics.job_ended(job, JobStatus.SUCCEEDED)
    metrics.job_left(job)
    metrics.job_left(job)  # a second call (the worker stopping) changes nothing
    found = scrape(registry)
    assert found.value("roomcast_job_lease_reclaims_total", kind="analysis") == 1
    assert found.value("roomcast_job_retries_total", kind="analysis") == 1
    assert found.value("roomcast_jobs_in_flight", kind="analysis") == 0
    stages = {stage: found.value("roomcast_job_stage_duration_seconds_count", stage=stage)
              for stage in ("starting", "loading", "fitting")}
    assert stages == {"starting": 1, "loading": 1, "fitting": 1}
    assert found.value("roomcast_job_duration_seconds_count", kind="analysis",
                       status="succeeded") == 1


def test_every_kind_and_final_status_is_exported_at_zero() -> None:
    registry = CollectorRegistry()
    WorkerMetrics().register(registry)
    text = scrape(registry)
    for kind in JobKind:
        for status in ("succeeded", "failed", "cancelled"):
            sample = [s for f in text.families.values() for s in f.samples
                      if s.name == "roomcast_jobs_finished_total"
                      and s.labels == {"kind": kind.value, "status": status}]
            assert len(sample) == 1 and sample[0].value == 0


class _Refusing:
    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        raise MailDeliveryError("refused")


class _Accepting:
    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        return None


async def test_counting_mailer_counts_sent_and_failed() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics().register(registry)
    message = MailMessage(to="a@example.com", subject="s", text="t", html="", message_id="m")
    await CountingMailer(_Accepting(), metrics).send(message)
    with pytest.raises(MailDeliveryError):
        await CountingMailer(_Refusing(), metrics).send(message)
    found = scrape(registry)
    assert found.value("roomcast_mail_sent_total") == 1
    assert found.value("roomcast_mail_failed_total") == 1
