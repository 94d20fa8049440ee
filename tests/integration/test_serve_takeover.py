"""`roomcast serve --take-over` on real processes: started while another server runs on the
same port and data directory, it stops that server (which ends cleanly, its sockets told
`session:ending`), and serves in its place with the same data; with nothing to take over it
is an ordinary start; where it cannot work it refuses clearly."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import socketio

from core.errors import ConfigError
from core.settings import Settings
from core.store.embedded.lock import DataDirLock, lock_owner
from roomcast import takeover
from tests.support.services import ROOT, ServerProcess, free_port, start_roomcast, wait_until

pytestmark = pytest.mark.slow


def register(url: str) -> tuple[str, str, str]:
    """A new account signed in over REST: its email, password and access token."""
    email, password = f"take-{secrets.token_hex(4)}@example.com", secrets.token_hex(12)
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        http.post("/auth/register", json={"email": email, "name": "Take",
                                          "password": password}).raise_for_status()
        login = http.post("/auth/login", json={"email": email, "password": password})
        return email, password, login.raise_for_status().json()["access_token"]


def take_over(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--take-over"], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "ENV": "test", "LOG_LEVEL": "INFO", "DATA_DIR": str(data_dir)})


async def test_take_over_stops_the_running_server_and_serves_in_its_place(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    old = start_roomcast({"DATA_DIR": str(data_dir)}, tmp_path)
    new: subprocess.Popen[bytes] | None = None
    client = socketio.AsyncClient(reconnection=False)
    ending: list[object] = []
    told = asyncio.Event()

    def on_ending(data: object) -> None:
        ending.append(data)
        told.set()

    client.on("session:ending", on_ending)
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set())
    try:
        email, password, token = register(old.url)
        await client.connect(old.url, auth={"token": token}, transports=["websocket"],
                             wait_timeout=10)
        new = take_over(old.port, data_dir, tmp_path / "take-over.log")
        assert await asyncio.to_thread(old.proc.wait, 120) == 0, old.log()[-3000:]
        # What the old process sent before it went is read by the client in its own time.
        await asyncio.wait_for(told.wait(), 30)
        await asyncio.wait_for(gone.wait(), 30)
        assert ending[0]["code"] == "server_shutdown", ending  # type: ignore[index]

        def ready() -> bool:
            assert new is not None and new.poll() is None, (tmp_path / "take-over.log").read_text()
            return httpx.get(old.url + "/health/ready", timeout=5).status_code == 200

        wait_until(ready, timeout=60, what="the new server")
        log = (tmp_path / "take-over.log").read_text()
        assert f"taking over from process {old.proc.pid}" in log, log
        # The store was read while the old process served; the new one went on from there.
        assert "read the embedded store ahead" in log, log
        assert "goes on from what was read ahead" in log, log
        # The new server has the old one's data: the account signs in and its socket connects.
        async with httpx.AsyncClient(base_url=old.url + "/api/v1", timeout=30) as http:
            login = await http.post("/auth/login", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
        again = socketio.AsyncClient(reconnection=False)
        await again.connect(old.url, auth={"token": login.json()["access_token"]},
                            transports=["websocket"], wait_timeout=10)
        await again.disconnect()
        assert lock_owner(data_dir / "store") == new.pid
    finally:
        if client.connected:
            await client.disconnect()
        old.stop()
        if new is not None and new.poll() is None:
            new.terminate()
            new.wait(30)


def test_take_over_with_nothing_running_is_an_ordinary_start(tmp_path: Path) -> None:
    port = free_port()
    proc = take_over(port, tmp_path / "data", tmp_path / "take-over.log")
    server = ServerProcess(port, proc, tmp_path / "take-over.log")
    try:
        def ready() -> bool:
            assert proc.poll() is None, server.log()
            return httpx.get(server.url + "/health/ready", timeout=5).status_code == 200

        wait_until(ready, timeout=90, what="roomcast serve --take-over")
        assert "taking over" not in server.log()
    finally:
        server.stop()
    assert proc.returncode == 0


def refused_take_over(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`roomcast serve --take-over` run to its end, which is a refusal to start here."""
    return subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "serve", "--host", "127.0.0.1", "--port",
         str(free_port()), "--take-over"], capture_output=True, text=True, timeout=180,
        cwd=ROOT, env={**os.environ, "ENV": "test", "DATA_DIR": str(data_dir), **env})


def test_take_over_refuses_without_an_embedded_store(tmp_path: Path) -> None:
    done = refused_take_over(tmp_path / "data", MONGO_URI="mongodb://127.0.0.1:1/")
    assert done.returncode == 2, done.stderr
    assert "--take-over finds the running server by the embedded store's lock" in done.stderr


def test_the_store_lock_names_its_owner(tmp_path: Path) -> None:
    assert lock_owner(tmp_path) is None  # no store here yet
    held = DataDirLock(tmp_path)
    try:
        assert lock_owner(tmp_path) == os.getpid()
    finally:
        held.release()
    assert lock_owner(tmp_path) is None  # the file stays; nobody holds it


HOLDER = """
import signal, sys, time
from pathlib import Path
from core.store.embedded.lock import DataDirLock
from roomcast.takeover import mark_serving
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a server that does not stop when asked
store = Path(sys.argv[1])
store.mkdir(parents=True, exist_ok=True)
DataDirLock(store)
if sys.argv[2] == "serving":
    mark_serving(store)
print("held", flush=True)
time.sleep(600)
"""


@contextmanager
def holder(store: Path, role: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process that holds the store's lock and ignores SIGTERM, marked as serving or not."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(store), role], cwd=ROOT,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(30)


def test_take_over_gives_up_on_a_server_that_does_not_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bounded: SOCKET_DRAIN_SECONDS + MARGIN after asking (20 s in a real start; 0.5 s here, so
    the wait is short), then a refusal to start that says what is still held. The refusal's
    way out of `roomcast serve` (exit 2, the message on stderr) is the other tests' here."""
    store = tmp_path / "data" / "store"
    monkeypatch.setattr(takeover, "MARGIN", 0.5)
    settings = Settings(env="test", data_dir=tmp_path / "data", socket_drain_seconds=0.5,
                        _env_file=None)  # type: ignore[call-arg]
    with holder(store, "serving") as held:
        with pytest.raises(ConfigError) as refused:
            takeover.take_over(settings, "127.0.0.1", free_port())
        assert str(refused.value) == (f"the embedded store in {store} is still held 1 s after "
                                      f"process {held.pid} was asked to stop")
        assert held.poll() is None  # asked, not killed


def test_take_over_leaves_alone_a_holder_of_the_store_that_does_not_serve(
    tmp_path: Path,
) -> None:
    """An export, import or migrate holds the store's lock too: it is not stopped."""
    store = tmp_path / "data" / "store"
    with holder(store, "exporting") as held:
        done = refused_take_over(tmp_path / "data")
        assert done.returncode == 2, done.stderr
        assert (f"the embedded store in {store} is held by process {held.pid}, which is not a "
                "running `roomcast serve`") in done.stderr, done.stderr
        assert held.poll() is None


def test_a_take_over_refused_by_its_settings_leaves_the_running_server_alone(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    old = start_roomcast({"DATA_DIR": str(data_dir)}, tmp_path)
    try:
        done = refused_take_over(data_dir, ENV="production", JWT_SECRET="short")
        assert done.returncode == 2, done.stderr
        assert "refusing to start" in done.stderr, done.stderr
        assert old.proc.poll() is None
        assert httpx.get(old.url + "/health/ready", timeout=10).status_code == 200
    finally:
        old.stop()
