"""`roomcast load` against two `roomcast serve` processes over one redis-server: listeners
that drop come back on the other process and must receive what they missed, by offset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed
from tests.support.services import ROOT, RedisServer, ServerProcess

pytestmark = pytest.mark.slow

LIMITS = {"socket_events_per_second": "1000", "socket_event_burst": "2000"}


def cluster(seed: Seed, start_server: StartServer,
            redis: RedisServer) -> tuple[list[ServerProcess], list[str]]:
    """Two processes sharing one Redis, a user in a meeting, and the load tool's Roomcast
    options for that user and room."""
    user = seed.user("load")
    meeting = seed.meeting(seed.project(user), user)
    servers = start_server.many(2, redis_url=redis.url, **LIMITS)
    return servers, ["--roomcast", "--token", user.token, "--room", f"meeting:{meeting}",
                     *(arg for s in servers for arg in ("--url", s.url))]


def load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "load", *args],
        capture_output=True, text=True, timeout=150, cwd=ROOT, check=False,
    )


def test_recovery_across_two_processes(
    seed: Seed, start_server: StartServer, redis_proc: RedisServer, tmp_path: Path,
) -> None:
    servers, roomcast = cluster(seed, start_server, redis_proc)
    report_path = tmp_path / "recovery.json"
    done = load("recovery", *roomcast, "--clients", "20", "--duration", "3", "--rate", "10",
                "--drop-rate", "8", "--offline", "0.3", "--json", str(report_path))
    logs = "".join(s.log()[-1500:] for s in servers)
    assert done.returncode == 0, done.stdout + done.stderr + logs
    report = json.loads(report_path.read_text())
    delivery, by_url = report["delivery"], report["connect"]["by_url"]
    assert delivery["reconnects"] == 24
    # Clients start on the process of their index and come back on the next one in turn: 24
    # drops among 20 listeners land on both processes.
    assert sum(by_url[s.url]["connected"] for s in servers) == 21
    assert sum(by_url[s.url]["reconnected"] for s in servers) == 24
    assert all(by_url[s.url]["reconnected"] > 0 for s in servers), by_url
    assert delivery["replayed"] > 0
    # Duplicates may be (an event published during a rejoin arrives replayed and live); they
    # are dropped, so delivered == expected also says nothing was counted twice.
    assert delivery["offset_gaps"] == 0
    assert delivery["delivered"] == delivery["expected"] == 30 * 20
    assert report["errors"] == {}


def test_fanout_reconnects_to_the_surviving_process(
    seed: Seed, start_server: StartServer, redis_proc: RedisServer, tmp_path: Path,
) -> None:
    servers, roomcast = cluster(seed, start_server, redis_proc)
    report_path = tmp_path / "fanout.json"
    # The publisher is client 40: on the first process, which stays up.
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomcast.cli", "load", "fanout", *roomcast, "--reconnect",
         "--clients", "40", "--duration", "4", "--rate", "10", "--progress",
         "--json", str(report_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    try:
        progress = _read_until(proc, rb"published\s+[1-9]")  # publishing has begun
        servers[1].kill()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out + progress + err).decode(errors="replace")
    report = json.loads(report_path.read_text())
    delivery, by_url = report["delivery"], report["connect"]["by_url"]
    # The 20 listeners of the killed process came back on the other one, and rejoined with
    # `since`: what was published while they were away was replayed, nothing is lost.
    assert delivery["reconnects"] == 20
    assert by_url[servers[0].url]["reconnected"] == 20
    assert delivery["delivered"] == delivery["expected"] == 40 * 40
    assert delivery["offset_gaps"] == 0  # duplicates may be: dropped, never counted
    assert sum(n for kind, n in report["errors"].items()
               if kind.startswith("disconnect:")) == 20
    assert set(report["errors"]) <= {"disconnect:network", "disconnect:server_close"}


def _read_until(proc: subprocess.Popen[bytes], pattern: bytes) -> bytes:
    """What the process wrote on stderr until `pattern` appeared (in the progress line)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    while not re.search(pattern, seen):
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += os.read(proc.stderr.fileno(), 4096)
    return seen
