"""The embedded store across restarts: everything is there after a stop, acknowledged writes
survive SIGKILL, unfinished jobs are resumed, and what cannot be trusted stops the start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.integration.realtime.support import Sock
from tests.integration.store.support import CSV, PASSWORD, contents, http_for, populate
from tests.support.domain import running
from tests.support.services import ROOT, ServerProcess, start_roomcast


async def test_a_restart_keeps_every_collection_and_every_object(settings: Settings) -> None:
    async with running(settings) as services:
        await populate(services)
        stores = services.ctx.stores
        for name in stores.collection_names():  # one in every collection populate left empty
            if not await stores.db[name].count_documents({}):
                await stores.db[name].insert_one({"_id": f"probe-{name}", "_v": 1})
        before = await contents(stores, services.ctx.objects)
    assert set(stores.collection_names()) <= set(before), sorted(before)
    assert any(key.endswith(".png") for key in before["objects"])

    async with running(settings) as services:
        after = await contents(services.ctx.stores, services.ctx.objects)
    # The one change: a meeting stay open when the process stopped is ended at the start-up.
    [stay] = after["attendance"]
    assert before["attendance"][0]["left_at"] is None and stay["left_at"] is not None
    stay["left_at"] = None
    assert after == before


# Processes: `roomcast serve` started, killed with SIGKILL and started again on one DATA_DIR.

def serve(data_dir: Path, log_dir: Path, **env: str) -> ServerProcess:
    return start_roomcast({"DATA_DIR": str(data_dir), "RATE_LIMIT_USER_PER_MINUTE": "100000",
                           "RATE_LIMIT_IP_PER_MINUTE": "100000",
                           "SOCKET_EVENTS_PER_SECOND": "100000", "SOCKET_EVENT_BURST": "100000",
                           **env}, log_dir)


def kill9(server: ServerProcess) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)


async def sign_up(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    account = {"email": email, "name": email.split("@")[0], "password": PASSWORD}
    assert (await http.post("/api/v1/auth/register", json=account)).status_code == 201
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_every_acknowledged_message_survives_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve(data_dir, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            headers = await sign_up(http, "ada@example.com")
            project = (await http.post("/api/v1/projects", json={"name": "P"},
                                       headers=headers)).json()["id"]
            when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            meeting = (await http.post(f"/api/v1/projects/{project}/meetings", headers=headers,
                                       json={"title": "M", "scheduled_at": when})).json()["id"]
            assert (await http.post(f"/api/v1/meetings/{meeting}/start",
                                    headers=headers)).status_code == 200
            token = headers["Authorization"].removeprefix("Bearer ")
        acknowledged: list[str] = []
        enough = asyncio.Event()  # 300 acknowledged, or a talker stopped

        async def talk(n: int) -> None:
            try:
                await talking(n)
            finally:
                enough.set()

        async def talking(n: int) -> None:
            sock = await Sock().connect(server.url, token)
            assert (await sock.join(f"meeting:{meeting}"))["ok"]
            for i in range(10_000):  # bounded; the kill ends it long before
                try:
                    ack = await sock.call("message", {"room": f"meeting:{meeting}",
                                                      "text": f"{n}-{i}"})
                except Exception:  # the server is gone: what was acknowledged is counted
                    return
                assert ack["ok"], ack
                acknowledged.append(ack["id"])
                if len(acknowledged) >= 300:
                    enough.set()

        talkers = [asyncio.create_task(talk(n)) for n in range(8)]
        await asyncio.wait_for(enough.wait(), 120)
        kill9(server)  # mid-stream: messages are in flight from every talker
        await asyncio.wait_for(asyncio.gather(*talkers), 60)
        assert len(acknowledged) >= 300
    finally:
        server.stop()

    server = serve(data_dir, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            login = await http.post("/api/v1/auth/login",
                                    json={"email": "ada@example.com", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            stored: set[str] = set()
            while True:
                page = (await http.get(f"/api/v1/meetings/{meeting}/messages", headers=headers,
                                       params={"limit": 100, "offset": len(stored)})).json()
                stored |= {m["id"] for m in page["items"]}
                if not page["items"]:
                    break
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"
        # Presence starts empty: of the eight sockets of the killed process, none is there.
        sock = await Sock().connect(server.url, headers["Authorization"].removeprefix("Bearer "))
        joined = await sock.join(f"meeting:{meeting}")
        assert [p["connections"] for p in joined["presence"]] == [1]  # this socket alone
        await sock.close()
    finally:
        server.stop()


async def test_a_job_killed_mid_run_is_resumed_after_the_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    slow = {"JOB_STEP_DELAY_MS": "300"}
    server = serve(data_dir, tmp_path, **slow)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            headers = await sign_up(http, "ada@example.com")
            project = (await http.post("/api/v1/projects", json={"name": "P"},
                                       headers=headers)).json()["id"]
            upload = await http.post(f"/api/v1/projects/{project}/uploads", headers=headers,
                                     files={"file": ("p.csv", CSV.encode(), "text/csv")})
            job_id = upload.json()["job_id"]
            for _ in range(300):
                job = (await http.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
                if job["status"] == "running" and job["progress"] > 0:
                    break
                await asyncio.sleep(0.05)
            assert job["status"] == "running", job
        kill9(server)
    finally:
        server.stop()

    server = serve(data_dir, tmp_path, **slow)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(600):
                job = (await http.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
                if job["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert job["attempts"] == 2  # the killed run, and the one after the restart
        assert "resumed 1 unfinished jobs" in server.log()
    finally:
        server.stop()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "roomcast.cli", *args], cwd=ROOT,
                          env={**os.environ, "ENV": "test", **env}, capture_output=True,
                          text=True, timeout=timeout, check=False)


async def test_a_second_serve_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = serve(data_dir, tmp_path)
    try:
        second = await asyncio.to_thread(run_cli, ["serve", "--port", "0"],
                                         {"DATA_DIR": str(data_dir)})
        assert second.returncode == 2
        assert second.stderr.startswith(
            f"roomcast: refusing to start: the embedded store in {data_dir / 'store'} is in use "
            f"by another Roomcast process (pid {first.proc.pid})"), second.stderr
        async with httpx.AsyncClient() as http:  # the first one goes on untouched
            assert (await http.get(first.url + "/health/ready")).status_code == 200
    finally:
        first.stop()


def damage_last_journal(directory: Path) -> Path:
    journal = sorted(directory.glob("journal-*.log"))[-1]
    data = bytearray(journal.read_bytes())
    data[12] ^= 0xFF  # inside the first record, so not a cut-short end
    journal.write_bytes(bytes(data))
    return journal


async def test_a_damaged_store_stops_serve_naming_the_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve(data_dir, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            await sign_up(http, "ada@example.com")
            await sign_up(http, "bob@example.com")
    finally:
        server.stop()
    journal = damage_last_journal(data_dir / "store")
    refused = await asyncio.to_thread(run_cli, ["serve", "--port", "0"],
                                      {"DATA_DIR": str(data_dir)})
    assert refused.returncode == 2
    assert f"the embedded store's file {journal} is damaged" in refused.stderr
    assert "roomcast import" in refused.stderr


@contextlib.contextmanager
def small_file_system(path: Path, size: str = "2m") -> Any:
    """A size-limited tmpfs mounted at `path` (needs root, as `make test` runs in CI)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"mounting a {size} tmpfs at {path} failed ({mounted.stderr.strip()}): this "
                    "test fills a real file system and needs root (or CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    return filler


async def test_a_full_disk_answers_service_unavailable_and_loses_nothing_acknowledged(
    make_settings: Any, tmp_path: Path
) -> None:
    with small_file_system(tmp_path / "fs") as fs:
        settings = make_settings(data_dir=fs / "data")
        async with running(settings) as services, http_for(services) as http:
            kept = [f"u{i}@example.com" for i in range(3)]
            for email in kept:
                assert (await http.post("/api/v1/auth/register", json={
                    "email": email, "name": "U", "password": PASSWORD})).status_code == 201
            filler = await asyncio.to_thread(fill, fs)
            # The journal's last page may still take a few records: register until it is full.
            for i in range(100):
                email = f"filling{i}@example.com"
                full = await http.post("/api/v1/auth/register", json={
                    "email": email, "name": "F", "password": PASSWORD})
                if full.status_code != 201:
                    break
                kept.append(email)
            assert full.status_code == 503, full.text
            assert full.json()["error"]["code"] == "service_unavailable"
            assert "No space left on device" in full.json()["error"]["message"]
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert "mongodb" in ready.json()["error"]["details"]["down"]
            filler.unlink()
            assert (await http.post("/api/v1/auth/register", json={
                "email": "after@example.com", "name": "A", "password": PASSWORD})
                    ).status_code == 201
            kept.append("after@example.com")
            assert (await http.get("/health/ready")).status_code == 200
        async with running(settings) as services:
            users = services.ctx.stores.users
            for email in kept:
                assert await users.by_email(email) is not None, email
        shutil.rmtree(fs / "data", ignore_errors=True)
