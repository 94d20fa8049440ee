"""benchmarks/load_tools.py in a bounded run, for the load tool's row only (the other tools
are installed from npm and PyPI by the benchmark itself, not by the tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT

pytestmark = pytest.mark.slow


def test_the_comparison_measures_the_load_tool(tmp_path: Path) -> None:
    out = tmp_path / "tools.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "load_tools.py"), "--users", "20",
         "--count", "2", "--rate", "2", "--ramp", "1", "--only", "roomcast", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    row = json.loads(out.read_text())["rows"][0]
    assert row["tool"] == "roomcast" and row["exit"] == 0
    # The server's own counts: 20 users, 2 messages each, to rooms of 10.
    assert row["sent"] == 40
    assert 0 < row["delivered"] <= 40 * 9
    assert row["peak_connected"] > 0 and row["cpu_us_per_message"] > 0
    assert "roomcast" in done.stdout.splitlines()[-1]
