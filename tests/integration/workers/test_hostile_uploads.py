"""A corpus of hostile uploads against a real `roomcast serve`: each file gets its documented
error code or a correct dataset, nothing is left running, and the server's memory stays
bounded (its peak, read from /proc, grows by less than MEMORY_BOUND over the whole corpus)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.hostile import corpus
from tests.support.services import ServerProcess, eventually, start_roomcast

MEMORY_BOUND_KIB = 300 * 1024  # 100,000 columns alone once took about a gigabyte
SECONDS = 60.0


def _peak_kib(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_roomcast({"RATE_LIMIT_USER_PER_MINUTE": "100000",
                              "RATE_LIMIT_IP_PER_MINUTE": "100000"}, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url + "/api/v1", timeout=SECONDS) as client:
        email = f"h-{uuid4().hex[:8]}@example.com"
        body = {"email": email, "name": "Hostile", "password": "correct horse battery"}
        assert (await client.post("/auth/register", json=body)).status_code == 201
        login = await client.post("/auth/login", json={"email": email,
                                                       "password": body["password"]})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


async def _ended(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async def final() -> dict[str, Any] | None:
        job: dict[str, Any] = (await http.get(f"/jobs/{job_id}")).json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    found: dict[str, Any] = await eventually(final, what=f"job {job_id} ending", bound=SECONDS)
    return found


async def test_hostile_uploads_get_their_codes_in_bounded_memory(
    server: ServerProcess, http: httpx.AsyncClient, long_form: bool
) -> None:
    project = (await http.post("/projects", json={"name": "Hostile"})).json()["id"]
    before = _peak_kib(server)
    cases = corpus()
    rounds = 3 if long_form else 1  # the long form sends each file three times at once
    sent: list[tuple[str, str]] = []
    for _ in range(rounds):
        for case, (name, content, _) in cases.items():
            response = await http.post(f"/projects/{project}/uploads",
                                       files={"file": (name, content)})
            assert response.status_code == 202, (case, response.text)
            sent.append((case, response.json()["job_id"]))
    wrong = []
    for case, job_id in sent:
        job = await _ended(http, job_id)
        expected = cases[case][2]
        if isinstance(expected, str):
            got: Any = (job["status"], job["error_code"])
            want: Any = ("failed", expected)
        else:
            got = job["status"], await _rows(http, job)
            want = ("succeeded", expected)
        if got != want:
            wrong.append(f"{case}: {got} (expected {want})")
    assert not wrong, "\n".join(wrong)
    listed = (await http.get(f"/projects/{project}/jobs", params={"limit": 100})).json()
    assert {job["status"] for job in listed["items"]} <= {"succeeded", "failed"}
    datasets = (await http.get(f"/projects/{project}/datasets")).json()
    good = sum(1 for *_, expected in cases.values() if not isinstance(expected, str))
    assert datasets["total"] == good * rounds  # the refused ones stored nothing
    grown = _peak_kib(server) - before
    assert grown < MEMORY_BOUND_KIB, f"the server's peak memory grew by {grown} KiB"


async def _rows(http: httpx.AsyncClient, job: dict[str, Any]) -> Any:
    if job["status"] != "succeeded":
        return job.get("error_code")
    page = (await http.get(f"/datasets/{job['result']['dataset_id']}/rows")).json()
    return page["rows"]


async def test_nothing_keeps_running_after_the_corpus(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    # The server's CPU time stops growing once the jobs have ended: nothing is left spinning
    # (the whole-sheet workbook once kept a thread busy for good).
    project = (await http.post("/projects", json={"name": "Idle"})).json()["id"]
    name, content, _ = corpus()["whole-sheet dimension"]
    jobs = [(await http.post(f"/projects/{project}/uploads",
                             files={"file": (name, content)})).json()["job_id"]
            for _ in range(6)]
    for job_id in jobs:
        assert (await _ended(http, job_id))["status"] == "succeeded"

    def cpu_ticks() -> int:
        fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    # Quiet means: over a stretch of half a second, under a tenth of it spent on CPU.
    async def quiet() -> bool:
        start = cpu_ticks()
        await asyncio.sleep(0.5)
        return cpu_ticks() - start < 5

    await eventually(quiet, what="the server going idle after its jobs ended", bound=SECONDS)
