"""The ingestion benchmark's own side, small: its file reads back with the types it holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.services import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from ingest_bench import write_csv


def test_the_benchmark_file_ingests_with_its_mixed_types(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    write_csv(path, 2_000)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ingest_bench.py"), "--side", "roomcast",
         "--file", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 2_000 and result["cpu_s"] > 0
    assert result["types"] == {
        "id": "integer", "a": "float", "b": "float", "count": "integer",
        "category": "string", "name": "string", "flag": "boolean", "at": "datetime",
        "c": "float", "zip": "string"}
