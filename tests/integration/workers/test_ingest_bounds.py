"""Ingestion's bounds on the embedded default: a hostile workbook neither wedges a job nor the
server, and a cancel reaches inside a read."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import uuid4

import httpx
import pytest

from roomcast.factory import Services
from tests.integration.test_auth import login, register
from tests.integration.workers.conftest import Member, upload, wait_job
from tests.support.hostile import huge_dimension_xlsx, xlsx_bytes
from workers.ingest.budget import ReadBudget

SECONDS = 30.0  # every wait below is bounded by this


class HeldReads:
    """Holds every read that reaches its `at`-th row, on its thread, until `let_go`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, at: int, until_halted: bool = False):
        self.loop = asyncio.get_running_loop()
        self.held = 0
        self.reached = asyncio.Event()
        self.released = threading.Event()
        self.saw_halt: list[bool] = []
        original = ReadBudget.spend
        calls: dict[int, int] = {}

        def spend(budget: ReadBudget, cells: int) -> None:
            calls[id(budget)] = calls.get(id(budget), 0) + 1
            if calls[id(budget)] == at:
                self.loop.call_soon_threadsafe(self._arrived)
                if until_halted:  # the job's loop must tell this thread to stop
                    self.saw_halt.append(budget._halted.wait(SECONDS))
                else:
                    self.released.wait(SECONDS)
            original(budget, cells)

        monkeypatch.setattr(ReadBudget, "spend", spend)

    def _arrived(self) -> None:
        self.held += 1
        self.reached.set()

    def let_go(self) -> None:
        self.released.set()


async def test_a_workbook_declaring_the_whole_sheet_reads_its_three_cells(
    client: httpx.AsyncClient, member: Member
) -> None:
    response = await upload(client, member, "wedge.xlsx", huge_dimension_xlsx())
    assert response.status_code == 202, response.text
    job = await wait_job(client, member, response.json()["job_id"], bound=SECONDS)
    assert job["status"] == "succeeded", job
    dataset_id = job["result"]["dataset_id"]
    rows = (await client.get(f"/api/v1/datasets/{dataset_id}/rows",
                             headers=member.headers)).json()
    assert (rows["rows"], rows["total"]) == ([{"name": "a", "n": None}], 1)


async def test_six_held_ingestions_leave_sign_up_and_sign_in_answering(
    services: Services, client: httpx.AsyncClient, member: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each read is held on its thread, as a slow file would hold it: the threads that
    # serve requests (password hashing among them) must not be the ones held.
    held = HeldReads(monkeypatch, at=1)
    started = [await upload(client, member, f"w{i}.xlsx", huge_dimension_xlsx())
               for i in range(6)]
    await asyncio.wait_for(held.reached.wait(), SECONDS)
    try:
        email = f"u-{uuid4().hex[:8]}@example.com"
        await asyncio.wait_for(register(client, email), SECONDS)
        assert (await asyncio.wait_for(login(client, email), SECONDS))["access_token"]
        assert held.held <= services.settings.job_threads  # the job pool is bounded
    finally:
        held.let_go()
    for response in started:
        job = await wait_job(client, member, response.json()["job_id"], bound=SECONDS)
        assert (job["status"], job["result"]["rows"]) == ("succeeded", 1), job


async def test_a_cancel_reaches_inside_a_read(
    client: httpx.AsyncClient, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldReads(monkeypatch, at=3, until_halted=True)
    rows: list[list[Any]] = [["n", "label"], *([i, f"r{i}"] for i in range(40))]
    job_id = (await upload(client, member, "rows.xlsx", xlsx_bytes(rows))).json()["job_id"]
    await asyncio.wait_for(held.reached.wait(), SECONDS)  # mid-chunk, on the third row
    cancel = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=member.headers)
    assert cancel.status_code == 202
    job = await wait_job(client, member, job_id, bound=SECONDS)
    assert held.saw_halt == [True]  # the read was told to stop while inside its chunk
    assert job["status"] == "cancelled"
    assert job["progress"] <= 5  # no chunk of the file was reported read
