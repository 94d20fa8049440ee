"""`roomcast load herd`: clients in rooms lose their server at once and come back, rejoining
with `since`; what was sent into their rooms meanwhile must all arrive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed
from tests.support.services import ROOT, RedisServer, ServerProcess, start_roomcast, wait_until

pytestmark = pytest.mark.slow

LIMITS = {"socket_events_per_second": "1000", "socket_event_burst": "2000"}
HERD = ["herd", "--clients", "20", "--room-size", "5", "--rate", "40", "--duration", "20",
        "--backoff", "load", "--drain", "10"]


def run_herd(args: list[str], ready: Path, report: Path,
             strike: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the herd; once every client is in its room (the ready file), `strike()`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomcast.cli", "load", *HERD, *args, "--ready-file", str(ready),
         "--json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout=60,
                   what="the herd's clients in their rooms")
        strike()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 0, out + err
    return done, json.loads(report.read_text())


def test_herd_after_one_of_two_processes_is_killed(
    seed: Seed, start_server: StartServer, redis_proc: RedisServer, tmp_path: Path,
) -> None:
    user = seed.user("load")
    project = seed.project(user)
    rooms = [f"meeting:{seed.meeting(project, user)}" for _ in range(4)]
    servers = start_server.many(2, redis_url=redis_proc.url, **LIMITS)
    args = ["--roomcast", "--token", user.token, *(a for r in rooms for a in ("--room", r)),
            *(a for s in servers for a in ("--url", s.url))]
    _, report = run_herd(args, tmp_path / "ready", tmp_path / "herd.json", servers[1].kill)
    herd = report["herd"]
    # Clients with odd indices were on the killed process; they came back on the other.
    assert herd["dropped"] == herd["back"] == 10
    assert report["connect"]["by_url"][servers[0].url]["reconnected"] == 10
    assert herd["back_ms"]["count"] == herd["attempt_ms"]["count"] == 10
    assert herd["all_back_s"] is not None
    assert herd["history_reset"] == 0
    # Everything the server confirmed reached every other member of its room.
    assert report["delivery"]["expected"] > 0
    assert herd["missed"] == 0
    assert set(report["errors"]) <= {"disconnect:network", "disconnect:server_close"}


@pytest.mark.parametrize("take_over", [False, True], ids=["stop-then-start", "take-over"])
def test_herd_after_a_restart_of_the_only_process(tmp_path: Path, take_over: bool) -> None:
    env = {"SOCKET_EVENTS_PER_SECOND": "1000", "SOCKET_EVENT_BURST": "2000",
           "RATE_LIMIT_IP_PER_MINUTE": "100000", "LOG_LEVEL": "WARNING",
           "DATA_DIR": str(tmp_path / "data")}
    server = start_roomcast(env, tmp_path)
    servers: list[ServerProcess] = [server]
    after = tmp_path / "after"  # the new process's log beside, not over, the old one's
    after.mkdir()

    def restart() -> None:
        # The same port and data directory: the accounts and rooms are kept, and the rooms'
        # history too (the embedded default saves it when it stops normally).
        if take_over:  # started first; it stops the old process itself
            servers.append(start_roomcast(env, after, port=server.port,
                                          args=["--take-over"]))
            assert server.proc.wait(60) == 0, server.log()
            return
        servers[0].stop()
        servers.append(start_roomcast(env, after, port=server.port))

    try:
        _, report = run_herd(["--register", "1", "--url", server.url], tmp_path / "ready",
                             tmp_path / "herd.json", restart)
    finally:
        for each in servers:
            each.stop()
    herd = report["herd"]
    assert herd["dropped"] == herd["back"] == 20
    # Each rejoin found its room's history where the stop left it: recovered, not reset.
    assert herd["history_reset"] == 0
    assert report["errors"].get("recovery:history_gone", 0) == 0
    assert report["delivery"]["expected"] > 0
    assert herd["missed"] == 0
