"""Every job kind's module is imported by its first job, not at start-up: each kind still
resolves to its handler and its discard."""

from __future__ import annotations

import inspect

import pytest

from core.store.jobs import JobKind
from workers.runner import handlers


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_job_kind_resolves_to_its_handler_and_discard(kind: JobKind) -> None:
    run, discard = handlers(kind)
    assert inspect.iscoroutinefunction(run)
    assert list(inspect.signature(run).parameters) == ["deps", "job", "report"]
    assert list(inspect.signature(discard).parameters) == ["deps", "job"]
