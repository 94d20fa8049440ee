"""The document benchmark's bounded form: a file goes up and comes back through a real
`roomcast serve` byte for byte, and the server's memory grows by less than half the file (a
server holding the file whole would grow by all of it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT

pytestmark = pytest.mark.slow


def test_a_document_streams_through_the_server_in_constant_memory(
    tmp_path: Path, long_form: bool
) -> None:
    size = 1024 if long_form else 64
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "document_download.py"), "--size-mb",
         str(size), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(out.read_text())
    assert [r["what"] for r in rows] == ["upload", "download 1", "download 2"]
    for row in rows:
        assert row["sha256_equal"] is True
        assert row["growth_mib"] < size / 2, row
