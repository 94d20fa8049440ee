"""Every job kind's module is imported by its first job, not at start-up: each kind still
resolves to its handler and its discard."""

from __future__ import annotations

import inspect

import pytest

from core.store.jobs import JobKind
from tests.support import fresh
from workers.runner import handlers


@pytest.mark.parametrize("kind", list(JobKind))
async def test_every_job_kind_resolves_to_its_handler_and_discard(kind: JobKind) -> None:
    run, discard = await handlers(kind)
    assert inspect.iscoroutinefunction(run)
    assert list(inspect.signature(run).parameters) == ["deps", "job", "report"]
    assert list(inspect.signature(discard).parameters) == ["deps", "job"]


def test_the_first_job_of_a_kind_imports_its_module_off_the_event_loop() -> None:
    """Imported in a thread, one module at a time, and used only once imported whole: two
    first jobs of two kinds at once (sharing NumPy and pyarrow) both get their handlers."""
    found = fresh.in_fresh_interpreter("""
import sys, threading
from core.store.jobs import JobKind
from workers.runner import JOBS, handlers

async def check():
    kinds = [JobKind.INGEST, JobKind.VISUALIZATION]
    names = {JOBS[kind][0] for kind in kinds}
    importing = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name in names:
                importing.append(threading.current_thread() is threading.main_thread())
            return None

    sys.meta_path.insert(0, Watch())
    before = [name in sys.modules for name in sorted(names)]
    got = await asyncio.gather(*(handlers(kind) for kind in kinds for _ in range(3)))
    return {"imported_before": before, "on_the_main_thread": importing,
            "same_handlers": len({id(run) for run, _ in got[:3]}) == 1,
            "named": sorted({run.__name__ for run, _ in got})}
""")
    assert found == {"imported_before": [False, False],
                     "on_the_main_thread": [False, False], "same_handlers": True,
                     "named": ["chart", "ingest"]}
