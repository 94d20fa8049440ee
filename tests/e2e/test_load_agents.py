"""One controller and two agents in separate processes over a real redis-server, against the
example chat app; one agent is killed mid-run and is reported with what it had done."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.chat_app import chat_app
from tests.support.services import ROOT, RedisServer

pytestmark = pytest.mark.slow

SCENARIO = """\
target: {{url: "{url}"}}
users:
  - name: talker
    flow:
      - connect: {{auth: {{name: "a{{{{ user.index }}}}"}}}}
      - join: lobby
      - loop:
          count: 1000
          steps:
            - emit: {{event: chat, data: {{room: lobby, text: "{{{{ counter('m') }}}}"}},
                      ack: {{match: {{ok: true}}}}}}
            - think: 0.2
phases: [{{duration: {duration}, users: 4, name: hold}}]
grace: 1
"""


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    with chat_app() as url:
        yield url


def start(*args: str, stderr: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "roomcast.cli", "load", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)


def test_two_agents_one_killed_mid_run(
    chat_url: str, redis_proc: RedisServer, tmp_path: Path,
) -> None:
    group = uuid.uuid4().hex[:8]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(url=chat_url, duration=6))
    agents = {name: start("agent", "--redis", redis_proc.url, "--group", group,
                          "--name", name, "--runs", "1") for name in ("a1", "a2")}
    report_path = tmp_path / "r.json"
    controller = start("run", str(scenario), "--redis", redis_proc.url, "--group", group,
                       "--agents", "2", "--json", str(report_path), "--progress",
                       stderr=subprocess.PIPE)
    try:
        # The live view prints a line a second; once three seconds are reported, both agents
        # have streamed figures back.
        assert controller.stderr is not None
        deadline = time.monotonic() + 60
        for line in controller.stderr:
            seen = re.match(r"\[\s*(\d+)s\].*total (\d+) steps", line)
            if seen and int(seen[1]) >= 3 and int(seen[2]) > 0:
                break
            assert time.monotonic() < deadline, "the run never got under way"
        agents["a2"].send_signal(signal.SIGKILL)
        out, err = controller.communicate(timeout=90)
        agents["a1"].wait(30)  # `--runs 1`: it leaves once its run is done
    finally:
        for proc in [*agents.values(), controller]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    assert controller.returncode == 3, out + err
    report = json.loads(report_path.read_text())
    by_name = {a["agent"]: a for a in report["agents"]}
    assert by_name["a1"]["status"] == "done"
    assert by_name["a2"]["status"] == "died"
    assert by_name["a2"]["users_started"] == 2 and by_name["a2"]["steps_done"] > 0
    died = [f for f in report["failures"] if f.startswith("agent a2 died")]
    assert died and f"done {by_name['a2']['steps_done']} steps" in died[0]
    assert "agent a2 died" in out
    # Both agents' figures are merged: a1's whole run and a2's until it died.
    assert report["users"]["started"] == 4
    assert report["steps"]["emit:chat"]["count"] == \
        by_name["a1"]["steps_done"] + by_name["a2"]["steps_done"] - 4 - 4  # minus connect, join
    assert agents["a1"].returncode == 0


def test_without_agents_the_controller_says_so(redis_proc: RedisServer, tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(url="http://127.0.0.1:9", duration=1))
    done = subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "load", "run", str(scenario), "--redis",
         redis_proc.url, "--group", uuid.uuid4().hex[:8], "--agents", "2", "--wait-agents",
         "0.5"], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "0 agent(s) registered, 2 wanted" in done.stderr


def test_an_agent_stops_when_its_controller_dies(
    chat_url: str, redis_proc: RedisServer, tmp_path: Path,
) -> None:
    group = uuid.uuid4().hex[:8]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(url=chat_url, duration=120))
    agent = start("agent", "--redis", redis_proc.url, "--group", group, "--name", "a1",
                  "--runs", "1")
    controller = start("run", str(scenario), "--redis", redis_proc.url, "--group", group,
                       "--progress", stderr=subprocess.PIPE)
    try:
        assert controller.stderr is not None
        for line in controller.stderr:
            if re.search(r"total [1-9]\d* steps", line):
                break
        controller.send_signal(signal.SIGKILL)
        controller.wait(10)
        # The phase had two minutes to go: the agent ends its run (and, with --runs 1, exits)
        # once the controller's heartbeat has expired, within a few seconds.
        agent.wait(30)
    finally:
        for proc in (agent, controller):
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    assert agent.returncode == 0
