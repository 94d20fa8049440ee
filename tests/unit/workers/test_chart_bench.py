"""The chart benchmark's bounded form: every kind runs through the real job runner on a small
table and reports bounded values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.services import ROOT


def test_the_chart_benchmark_runs_small_and_reports_every_kind(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "chart_bench.py"), "--rows", "20000",
         "--repeat", "1", "--only", "histogram", "--only", "scatter", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert [r["case"] for r in rows] == ["histogram", "scatter"]
    for row in rows:
        assert row["rows"] == 20000
        assert row["best_s"] > 0 and row["peak_rss_mb"] >= row["growth_mb"]
    assert rows[0]["points"] == 50 * 8  # 50 bins, one series per label
    assert rows[1]["points"] == 2000  # the sample, not 20,000 points
