"""A CSV too wide is refused from its header, before any column is typed or held."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT
from workers.errors import BadFile
from workers.ingest.csv_reader import read_csv
from workers.ingest.limits import MAX_COLUMNS

MEASURE = """
import json, resource, sys
from workers.errors import BadFile
from workers.ingest.csv_reader import read_csv
import pyarrow
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    for _ in read_csv(__import__("pathlib").Path(sys.argv[1])):
        pass
    code = None
except BadFile as exc:
    code = exc.code
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "grew_kib": after - before}))
"""


def _wide(path: Path, columns: int) -> Path:
    header = ",".join(f"c{i}" for i in range(columns))
    path.write_text(header + "\n" + ",".join("1" for _ in range(columns)) + "\n")
    return path


def test_a_hundred_thousand_columns_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = _wide(tmp_path / "wide.csv", 100_000)
    assert path.stat().st_size < 1024 * 1024
    # Its own process, so the peak (ru_maxrss) is this read's alone.
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    measured = json.loads(done.stdout)
    assert measured["code"] == "too_many_columns"
    assert measured["grew_kib"] < 64 * 1024, measured  # it was about a gigabyte


@pytest.mark.parametrize("quoted", [False, True])
def test_the_column_limit_counts_fields_not_delimiters(tmp_path: Path, quoted: bool) -> None:
    path = tmp_path / "edge.csv"
    names = [f'"a,{i}"' if quoted else f"a{i}" for i in range(MAX_COLUMNS)]
    path.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    table = next(read_csv(path))[1]
    assert table.num_columns == MAX_COLUMNS
    with pytest.raises(BadFile) as caught:
        next(read_csv(_wide(tmp_path / "over.csv", MAX_COLUMNS + 1)))
    assert caught.value.code == "too_many_columns"
