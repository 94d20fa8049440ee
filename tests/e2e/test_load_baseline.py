"""`roomcast load` end to end, as a CI smoke: the CLI in a subprocess against the plain
python-socketio baseline server (benchmarks/baseline_server.py) on a free port."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import ROOT, free_port, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baseline_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "baseline_server.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/socket.io/?EIO=4&transport=polling",
                                     timeout=1).status_code == 200, what="baseline server")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomcast.cli", "load", *args],
        capture_output=True, text=True, timeout=150, cwd=ROOT, check=False,
    )


def test_fanout_smoke_writes_table_json_and_png(baseline_url: str, tmp_path: Path) -> None:
    report_path, png_path = tmp_path / "fanout.json", tmp_path / "fanout.png"
    done = load("fanout", "--url", baseline_url, "--clients", "200", "--duration", "3",
                "--rate", "10", "--json", str(report_path), "--png", str(png_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    delivery = report["delivery"]
    assert report["connect"]["connected"] == 201  # 200 listeners and the publisher
    assert delivery["published"] == 30
    assert delivery["listeners"] == 200
    assert delivery["delivered"] == delivery["expected"] == 30 * 200
    assert delivery["lost"] == 0
    assert delivery["out_of_order"] == 0
    assert delivery["latency_ms"]["count"] == 6000
    assert report["errors"] == {}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "delivery" in done.stdout and "lost 0" in done.stdout


def test_fanout_over_two_processes_merges_their_samples(
    baseline_url: str, tmp_path: Path,
) -> None:
    report_path = tmp_path / "fanout2.json"
    done = load("fanout", "--url", baseline_url, "--clients", "100", "--duration", "2",
                "--rate", "10", "--procs", "2", "--json", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["clock"] == "wall"
    assert report["delivery"]["listeners"] == 100
    assert report["delivery"]["delivered"] == report["delivery"]["expected"] == 20 * 100


def test_rooms_every_client_talks(baseline_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "rooms.json"
    done = load("rooms", "--url", baseline_url, "--clients", "40", "--room-size", "5",
                "--duration", "2", "--rate", "2", "--json", str(report_path))
    assert done.returncode == 0, done.stderr
    delivery = json.loads(report_path.read_text())["delivery"]
    assert delivery["published"] == 40 * 2 * 2
    assert delivery["expected"] == delivery["published"] * 4  # everyone else in a room of 5
    assert delivery["delivered"] == delivery["expected"]


def test_connect_storm(baseline_url: str, tmp_path: Path) -> None:
    report_path, png_path = tmp_path / "connect.json", tmp_path / "connect.png"
    done = load("connect", "--url", baseline_url, "--clients", "150", "--rate", "100",
                "--duration", "2", "--json", str(report_path), "--png", str(png_path))
    assert done.returncode == 0, done.stderr
    connect = json.loads(report_path.read_text())["connect"]
    assert connect["attempted"] == connect["connected"] == 150
    assert connect["latency_ms"]["count"] == 150
    assert sum(row["connects"] for row in connect["timeline"]) == 150
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_connect_tells_what_it_did_not_attempt(baseline_url: str, tmp_path: Path) -> None:
    report_path = tmp_path / "connect.json"
    # 20 a second for 1 s: attempts at 0, 0.05, ... 1.0 s are 21; the other 29 clients would
    # start after the end and are not attempted.
    done = load("connect", "--url", baseline_url, "--clients", "50", "--rate", "20",
                "--duration", "1", "--json", str(report_path))
    assert done.returncode == 0, done.stderr
    connect = json.loads(report_path.read_text())["connect"]
    assert (connect["attempted"], connect["not_attempted"]) == (21, 29)
    assert "connections attempted 21  connected 21  failed 0  not attempted 29" in done.stdout


def test_slo_exit_codes(baseline_url: str) -> None:
    common = ["--url", baseline_url, "--clients", "20", "--duration", "1", "--rate", "50"]
    missed = load("connect", *common, "--slo", "p99<0.001ms")
    assert missed.returncode == 1, missed.stderr
    assert "MISSED" in missed.stdout
    bad_unit = load("connect", *common, "--slo", "p99<10min")
    assert bad_unit.returncode == 2
    met = load("connect", *common, "--slo", "max<600s,errors==0")
    assert met.returncode == 0, met.stdout


def test_failures_are_counted_not_fatal(tmp_path: Path) -> None:
    report_path = tmp_path / "refused.json"
    done = load("connect", "--url", f"http://127.0.0.1:{free_port()}", "--clients", "5",
                "--duration", "1", "--rate", "50", "--json", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["errors"] == {"connect:refused": 5}
    assert "connections attempted 5  connected 0  failed 5" in done.stdout


def test_an_slo_with_nothing_measured_is_missed(tmp_path: Path) -> None:
    report_path = tmp_path / "nothing.json"
    done = load("fanout", "--url", f"http://127.0.0.1:{free_port()}", "--clients", "5",
                "--duration", "1", "--slo", "p99<100ms,lost==0", "--json", str(report_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "slo p99<100ms: MISSED (not measured: no delivery samples)" in done.stdout
    assert "slo lost==0: MISSED (not measured: nothing was owed" in done.stdout
    report = json.loads(report_path.read_text())
    assert report["slo_ok"] is False
    assert [item["measured"] for item in report["slo"]] == [None, None]


def test_the_progress_line_counts_published_live(baseline_url: str) -> None:
    done = load("fanout", "--url", baseline_url, "--clients", "20", "--duration", "3",
                "--rate", "10", "--progress")
    assert done.returncode == 0, done.stderr
    published = [int(n) for n in re.findall(r"published\s+(\d+)", done.stderr)]
    assert published[-1] == 30
    # The line is redrawn twice a second: some redraw falls inside the 3 s of publishing.
    assert any(0 < n < 30 for n in published), published


@pytest.mark.parametrize("args", [["fanout", "--clients", "0"], ["nope"],
                                  ["rooms", "--room-size", "1"],
                                  ["presence", "--register", "3", "--clients", "5"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = load(*args, "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "roomcast load" in done.stderr or "usage" in done.stderr


def test_every_scenario_has_help() -> None:
    for scenario in ("connect", "fanout", "rooms", "presence", "recovery", "jobs"):
        done = load(scenario, "--help")
        assert done.returncode == 0, scenario
        for option in ("--url", "--clients", "--duration", "--rate", "--slo", "--json",
                       "--png", "--progress"):
            assert option in done.stdout, (scenario, option)
        assert ("--offline" in done.stdout) == (scenario in ("presence", "recovery")), scenario
        assert ("--reconnect" in done.stdout) == (scenario in ("fanout", "rooms")), scenario
    assert "--drop-rate" in load("recovery", "--help").stdout
    assert "--rows" in load("jobs", "--help").stdout


def test_the_rooms_scenario_as_a_file(baseline_url: str, tmp_path: Path) -> None:
    """examples/generic/rooms.yaml: the built-in `rooms` on the scenario engine."""
    report_path = tmp_path / "rooms-file.json"
    done = load("run", str(ROOT / "examples" / "generic" / "rooms.yaml"), "--url", baseline_url,
                "--json", str(report_path), "--slo", "lost==0,errors==0")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["steps"]["emit:broadcast"]["count"] == 1000
    broadcast = report["events"]["broadcast"]
    # 100 users in rooms of 10, 10 messages each, to the 9 others.
    assert broadcast["received"] == 1000 * 9
    assert broadcast["delivery_latency_ms"]["count"] == 1000 * 9
    assert broadcast["lost"] == broadcast["out_of_order"] == 0
    assert report["steps"]["emit:broadcast"]["rate_per_s"] < 1000  # over the active seconds
