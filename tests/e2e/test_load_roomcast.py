"""`roomcast load` against a real `roomcast serve`: signs in over REST, connects with the
token, and drives the Roomcast contract (meeting rooms, `message` events with offsets)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import ROOT, ServerProcess, start_roomcast

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log_dir = tmp_path_factory.mktemp("roomcast-load")
    proc = start_roomcast({"SOCKET_EVENTS_PER_SECOND": "1000", "SOCKET_EVENT_BURST": "2000"},
                          log_dir)
    try:
        yield proc
    finally:
        proc.stop()


def load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "load", *args],
        capture_output=True, text=True, timeout=150, cwd=ROOT, check=False,
    )


def test_connect_with_registered_users(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "connect.json"
    done = load("connect", "--url", server.url, "--register", "2", "--clients", "50",
                "--rate", "100", "--duration", "1", "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    assert report["target"] == "roomcast"
    assert report["connect"]["connected"] == 50
    assert report["errors"] == {}


def test_a_bad_token_is_a_counted_connect_error(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "refused.json"
    done = load("connect", "--url", server.url, "--token", "not-a-token", "--clients", "3",
                "--rate", "50", "--duration", "1", "--json", str(report_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(report_path.read_text())["errors"] == {"connect:connect_error": 3}


def test_fanout_into_a_meeting_room(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "fanout.json"
    done = load("fanout", "--url", server.url, "--register", "1", "--clients", "100",
                "--duration", "2", "--rate", "10", "--metrics", "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    delivery = report["delivery"]
    assert delivery["published"] == 20
    assert delivery["delivered"] == delivery["expected"] == 20 * 100
    assert delivery["lost"] == delivery["offset_gaps"] == delivery["duplicates"] == 0
    assert report["errors"] == {}
    metrics = report["server_metrics"]
    assert metrics["available"] is True
    # Every message reached 101 sockets (the listeners and the publisher itself).
    assert metrics["delta"]["roomcast_events_out_total"] >= 20 * 101
    assert "by offset: replayed 0  offset gaps 0" in done.stdout
    assert "server /metrics, changed during the run" in done.stdout
    assert "  roomcast_events_out_total" in done.stdout


def register(url: str, count: int) -> list[str]:
    """Fresh users signed in over REST: one access token each."""
    tokens = []
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        for n in range(count):
            email, password = f"tok-{secrets.token_hex(4)}@example.com", secrets.token_hex(12)
            http.post("/auth/register", json={"email": email, "name": f"Tok {n}",
                                              "password": password}).raise_for_status()
            login = http.post("/auth/login", json={"email": email, "password": password})
            tokens.append(login.raise_for_status().json()["access_token"])
    return tokens


def test_a_tokens_file_of_several_users_joins_them_all(
    server: ServerProcess, tmp_path: Path,
) -> None:
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text("\n".join(register(server.url, 3)) + "\n")
    report_path = tmp_path / "fanout.json"
    done = load("fanout", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "30", "--duration", "1", "--rate", "5", "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    assert report["errors"] == {}  # every token's user was added to the project
    assert report["delivery"]["listeners"] == 30
    assert report["delivery"]["delivered"] == report["delivery"]["expected"] == 5 * 30


def user_of(url: str, token: str) -> str:
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
        me = http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        return str(me.raise_for_status().json()["id"])


def test_a_tokens_file_may_name_each_tokens_user(server: ServerProcess, tmp_path: Path) -> None:
    # `TOKEN USER_ID` lines: the ids given are the users added to the run's project, so a
    # wrong one fails the setup (checked below) and right ones let every client join.
    tokens = register(server.url, 3)
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text("".join(f"{t} {user_of(server.url, t)}\n" for t in tokens))
    report_path = tmp_path / "fanout.json"
    done = load("fanout", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "30", "--duration", "1", "--rate", "5", "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    assert report["errors"] == {}
    assert report["delivery"]["delivered"] == report["delivery"]["expected"] == 5 * 30

    stranger = "f" * 32
    tokens_file.write_text(f"{tokens[0]} {user_of(server.url, tokens[0])}\n"
                           f"{tokens[1]} {stranger}\n")
    done = load("fanout", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "2", "--duration", "1")
    assert done.returncode == 2
    assert "could not add a member: HTTP 404" in done.stderr


def test_a_tokens_file_line_of_three_fields_is_refused(server: ServerProcess,
                                                       tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(f"{register(server.url, 1)[0]}\nabc def ghi\n")
    done = load("fanout", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "2", "--duration", "1")
    assert done.returncode == 2
    assert (f"{tokens_file}, token 2: a line is a token and at most its user's id, found 3 "
            "fields") in done.stderr


def test_presence_refuses_tokens_of_too_few_users(server: ServerProcess, tmp_path: Path) -> None:
    one, other = register(server.url, 2)
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(f"{one}\n{other}\n{one}\n")
    done = load("presence", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "3", "--duration", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "3 clients but 2 distinct user(s)" in done.stderr


def test_a_bad_token_in_the_file_is_named(server: ServerProcess, tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(f"{register(server.url, 1)[0]}\nnot-a-token\n")
    done = load("fanout", "--url", server.url, "--tokens-file", str(tokens_file),
                "--clients", "2", "--duration", "1")
    assert done.returncode == 2
    assert f"{tokens_file}, token 2: could not read /users/me: HTTP 401" in done.stderr


def test_rooms_of_meetings_every_client_talks(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "rooms.json"
    done = load("rooms", "--url", server.url, "--register", "2", "--clients", "20",
                "--room-size", "5", "--duration", "2", "--rate", "1", "--json",
                str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    delivery = json.loads(report_path.read_text())["delivery"]
    assert delivery["published"] == 40
    assert delivery["delivered"] == delivery["expected"] == 40 * 4


def test_refused_sign_in_exits_2(server: ServerProcess) -> None:
    done = load("fanout", "--url", server.url, "--email", "nobody@example.com",
                "--password", "wrong-password", "--clients", "1", "--duration", "1")
    assert done.returncode == 2
    assert "could not sign in" in done.stderr


def test_recovery_after_drops_loses_nothing_by_offset(
    server: ServerProcess, tmp_path: Path,
) -> None:
    report_path = tmp_path / "recovery.json"
    done = load("recovery", "--url", server.url, "--register", "1", "--clients", "30",
                "--duration", "3", "--rate", "10", "--drop-rate", "4", "--offline", "0.5",
                "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    delivery = report["delivery"]
    assert delivery["reconnects"] == 12
    assert delivery["replayed"] > 0
    assert delivery["offset_gaps"] == 0
    assert delivery["delivered"] == delivery["expected"] == 30 * 30
    assert report["connect"]["by_url"][server.url]["reconnected"] == 12
    assert "reconnects 12 (12 attempts)" in done.stdout


def test_presence_churn_is_seen_by_every_member(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "presence.json"
    done = load("presence", "--url", server.url, "--register", "8", "--clients", "8",
                "--duration", "2", "--rate", "2", "--offline", "0.3", "--json",
                str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    delivery, everyone = report["delivery"], report["everyone"]
    assert delivery["published"] == 4  # members churned: each leaves, then rejoins
    assert everyone["changes"] == 8
    # Each change is owed to at most the 7 other members (fewer when one of them was itself
    # part-way through a leave or a rejoin at the time).
    assert 0 < delivery["expected"] <= 8 * 7
    assert delivery["delivered"] == delivery["expected"]
    assert delivery["lost"] == 0
    assert everyone["not_seen_by_all"] == 0
    assert everyone["latency_ms"]["count"] == 8
    assert everyone["latency_ms"]["max"] == delivery["latency_ms"]["max"]
    assert report["errors"] == {}
    assert "everyone sees" in done.stdout


def test_watchers_receive_every_job_event(server: ServerProcess, tmp_path: Path) -> None:
    report_path = tmp_path / "jobs.json"
    done = load("jobs", "--url", server.url, "--register", "1", "--clients", "20",
                "--duration", "2", "--rate", "1", "--rows", "500", "--json", str(report_path))
    assert done.returncode == 0, done.stderr + server.log()[-2000:]
    report = json.loads(report_path.read_text())
    counters, delivery = report["counters"], report["delivery"]
    assert delivery["published"] == 2  # jobs started
    assert counters["jobs:job.completed"] == 2, counters
    # Every watcher is owed every offset of both job rooms, as the server counts them.
    assert counters["jobs:events"] > 2
    assert delivery["expected"] == counters["jobs:events"] * 20
    assert delivery["delivered"] == delivery["expected"]
    assert delivery["offset_gaps"] == counters["jobs:events_nobody_saw"] == 0
    assert report["errors"] == {}


def test_roomcast_only_scenarios_refuse_the_generic_contract() -> None:
    done = load("presence", "--url", "http://127.0.0.1:9", "--clients", "2")
    assert done.returncode == 2
    assert "Roomcast only" in done.stderr
