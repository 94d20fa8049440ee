"""`benchmarks/run.py`'s Roomcast targets connect as distinct seeded users: the seed's teams
are the rooms' clients, every token is its own user's, and a one-process server whose store
was seeded before it started serves the connect and rooms cases without an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from core.settings import Settings
from core.tokens import TokenService
from tests.support.services import ROOT

pytestmark = pytest.mark.slow

sys.path.append(str(ROOT / "benchmarks"))  # after the rest: nothing already found is shadowed
import run as bench  # noqa: E402


def test_the_seed_gives_every_client_its_own_user_and_each_room_its_team(
    tmp_path: Path,
) -> None:
    people = bench.People.of(clients=25, memory_clients=40, herd_clients=30)
    seeded = bench.write_seed(tmp_path, people)
    seed = orjson.loads(seeded.seed.read_bytes())
    user_ids = [u["id"] for u in seed["users"]]
    assert len(set(user_ids)) == len(user_ids) == 40
    verify = TokenService(Settings(_env_file=None, env="test"))
    lines = seeded.tokens.read_text().splitlines()
    assert len(lines) == 40
    for n, line in enumerate(lines):
        token, user_id = line.split()
        assert user_id == user_ids[n] == verify.verify(token, typ="access").sub
    projects = {p["id"]: p for p in seed["projects"]}
    meetings = {f"meeting:{m['id']}": m for m in seed["meetings"]}
    size = bench.HERD_ROOM_SIZE
    assert len(seeded.rooms) == 4
    for r, room in enumerate(seeded.rooms):  # client i joins room i // size as user i
        assert projects[meetings[room]["project_id"]]["member_ids"] == user_ids[r * size:
                                                                                (r + 1) * size]
    fanout = projects[meetings[seeded.fanout_room]["project_id"]]
    assert fanout["member_ids"] == user_ids[:26]  # 25 listeners and the publisher (index 25)


def test_a_seeded_one_process_run_has_no_errors(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--only", "one", "--scenario",
         "connect", "--scenario", "rooms", "--clients", "20", "--memory-clients", "30",
         "--herd-clients", "20", "--duration", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["case"], r["status"]) for r in rows] == [
        ("connect 30", "ok"), ("rooms of 10, 20 clients @1/s each", "ok")]
    connect, rooms = (r["report"] for r in rows)
    assert connect["connect"]["connected"] == 30 and connect["errors"] == {}
    assert rooms["errors"] == {}
    assert rooms["delivery"]["delivered"] == rooms["delivery"]["expected"] > 0
    assert "--tokens-file SEEDED_TOKENS" in rows[1]["command"]
