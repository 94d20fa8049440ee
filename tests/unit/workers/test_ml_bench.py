"""The ML benchmark's bounded form: it runs, and both sides agree on quality."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.services import ROOT


def test_the_benchmark_runs_small_and_reports_every_case(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ml_bench.py"), "--repeat", "1",
         "--scale", "0.01", "--only", "kmeans", "--only", "tree", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert [r["case"].split(",")[0] for r in rows] == ["k-means k=10"] + ["k-means k=8"] * 2 + [
        "tree"] * 2
    for row in rows:
        assert row["roomcast_s"] > 0 and row["sklearn_s"] > 0 and "met" in row
        if row["case"].startswith("k-means"):
            assert row["roomcast_quality"] <= row["sklearn_quality"] * 1.01
        else:
            assert abs(row["roomcast_quality"] - row["sklearn_quality"]) <= 0.1
