"""`roomcast load run` with scenario files against the example chat app
(examples/chat/app.py, plain python-socketio) in a subprocess, and against targets that are
down or are not Socket.IO."""

from __future__ import annotations

import http.server
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.chat_app import CHAT, chat_app
from tests.support.services import ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chat_url() -> Iterator[str]:
    with chat_app() as url:
        yield url


def load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "roomcast.cli", "load", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def short(tmp_path: Path, text: str) -> Path:
    """A scenario file beside a copy of the example's data file."""
    (tmp_path / "users.csv").write_text((CHAT / "users.csv").read_text())
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_the_tutorial_scenario_against_the_chat_example(chat_url: str, tmp_path: Path) -> None:
    text = (CHAT / "chat.yaml").read_text()
    # The tutorial's scenario, shortened: 1 s of arrivals, then 2 s of 4 users.
    text = text.replace("duration: 3\n", "duration: 1\n").replace("duration: 5\n",
                                                                   "duration: 2\n")
    text = text.replace("users: 12", "users: 4").replace("think: 2", "think: 0.2")
    scenario = short(tmp_path, text)
    report_path, html_path = tmp_path / "r.json", tmp_path / "r.html"
    done = load("run", str(scenario), "--url", chat_url, "--json", str(report_path),
                "--html", str(html_path), "--slo", "errors==0,step.emit:chat.p99<5s,lost==0")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    steps = report["steps"]
    assert steps["join"]["count"] == steps["connect"]["count"] > 0
    assert steps["emit:chat"]["count"] > 0 and steps["emit:chat"]["latency_ms"]["count"] > 0
    assert report["errors"] == {} and report["totals"]["errors"] == 0
    chat = report["events"]["chat"]
    assert chat["received"] > 0 and chat["lost"] == 0
    assert chat["delivery_latency_ms"]["count"] == chat["received"]
    assert [p["model"] for p in report["phases"]] == ["open", "closed"]
    assert report["model"] == "closed and open"
    assert all(gate["ok"] for gate in report["slo"])
    page = html_path.read_text()
    assert "<svg" in page and "emit:chat" in page
    assert "http://" not in page.replace(chat_url, "")  # nothing fetched from anywhere
    assert "emit:chat" in done.stdout and "errors none" in done.stdout


def test_expect_matches_timeouts_and_mismatches_counted_per_step(
    chat_url: str, tmp_path: Path,
) -> None:
    scenario = short(tmp_path, f"""
target: {{url: "{chat_url}"}}
users:
  - name: pair
    flow:
      - set: {{me: "p{{{{ user.index }}}}"}}
      - connect: {{auth: {{name: "{{{{ me }}}}"}}}}
      - join: {{room: "r{{{{ user.index }}}}", ack: {{capture: {{members: members}}}}}}
      - expect: {{event: joined, match: {{user: "{{{{ me }}}}", members: "{{{{ members }}}}"}},
                  capture: {{whom: user}}}}
      - emit: {{event: chat, data: {{room: "r{{{{ user.index }}}}", text: "{{{{ whom }}}}"}},
                ack: {{match: {{ok: false}}}}}}
phases: [{{duration: 1, arrival_rate: 3}}]
""")
    report_path = tmp_path / "r.json"
    done = load("run", str(scenario), "--json", str(report_path), "--slo", "errors==0")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["steps"]["join"]["count"] == 3
    assert report["steps"]["expect:joined"]["count"] == 3
    assert report["steps"]["emit:chat"]["errors"] == {"mismatch": 3}
    assert report["users"]["failed"] == 3
    assert "slo errors==0: MISSED (measured 3)" in done.stdout


def test_an_expected_event_that_never_comes_is_a_timeout(chat_url: str, tmp_path: Path) -> None:
    scenario = short(tmp_path, f"""
target: {{url: "{chat_url}"}}
users:
  - flow:
      - connect: {{auth: {{name: x}}}}
      - expect: {{event: never, within: 300ms}}
phases: [{{duration: 1, arrival_rate: 2}}]
""")
    report_path = tmp_path / "r.json"
    done = load("run", str(scenario), "--json", str(report_path), "--slo", "timeouts==0")
    assert done.returncode == 1, done.stdout + done.stderr
    step = json.loads(report_path.read_text())["steps"]["expect:never"]
    assert (step["count"], step["timeouts"], step["errors"]) == (0, 2, {"timeout": 2})


def test_a_bad_scenario_is_refused_before_connecting(tmp_path: Path) -> None:
    scenario = short(tmp_path, "users:\n  - flow: [{emit: {event: a, ack: {within: x}}}]\n"
                     "phases: [{duration: 1, users: 1}]\n")
    done = load("run", str(scenario))
    assert done.returncode == 2
    assert f"{scenario}:2: within must be a number" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def plain_http() -> Iterator[str]:
    """An HTTP server that is not Socket.IO: every request gets 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("target", ["down", "not socket.io", "refuses"])
def test_a_target_that_is_down_refuses_or_is_not_socketio_is_reported_with_counts(
    target: str, plain_http: str, chat_url: str, tmp_path: Path,
) -> None:
    url = {"down": f"http://127.0.0.1:{free_port()}", "not socket.io": plain_http,
           "refuses": chat_url}[target]  # the chat app refuses a connect without a name
    scenario = short(tmp_path, f"""
target: {{url: "{url}"}}
users: [{{flow: [connect, {{emit: {{event: a}}}}]}}]
phases: [{{duration: 1, arrival_rate: 4}}]
""")
    done = load("run", str(scenario))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if target == "down":
        assert (f"target {url}: 0 of 4 connections succeeded (refused=4); nothing listens "
                "there") in done.stdout
    elif target == "refuses":
        assert (f"target {url}: 0 of 4 connections succeeded (connect_error=4); the Socket.IO "
                "server refused the connection (auth or namespace)") in done.stdout
        assert "errors connect:connect_error=4" in done.stdout
    else:
        assert f"target {url}: 0 of 4 connections succeeded (http_" in done.stdout
        assert "is it a Socket.IO v4 server" in done.stdout
    assert "connect=4" not in done.stdout or "connect_" in done.stdout


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_the_run_with_what_was_measured(chat_url: str, tmp_path: Path) -> None:
    scenario = short(tmp_path, f"""
target: {{url: "{chat_url}"}}
users:
  - flow:
      - connect: {{auth: {{name: x}}}}
      - join: lobby
      - think: 0.2
      - disconnect
phases: [{{duration: 60, users: 2}}]
""")
    report_path = tmp_path / "r.json"
    # Ctrl-C as a terminal gives it: a suite started in the background (`make test &`, a CI
    # runner) passes SIGINT on ignored, and Python then leaves it ignored in the child too.
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomcast.cli", "load", "run", str(scenario), "--json",
         str(report_path), "--progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=_sigint_as_in_a_terminal)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the live view: wait until steps were done
            if re.search(r"total [1-9]\d* steps", line):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 3, out + err
    assert "Traceback" not in err
    assert "run FAILED: interrupted (Ctrl-C)" in out
    report = json.loads(report_path.read_text())
    assert report["stopped"] == "interrupted" and report["steps"]["join"]["count"] > 0
