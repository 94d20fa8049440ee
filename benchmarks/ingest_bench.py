"""CSV ingestion against pandas on the same file, in the same run: Roomcast's reader, typing,
statistics and Parquet writing (`workers/ingest`) against pandas' `read_csv` + `describe`
(pandas is a benchmark-only dependency: `pip install -e '.[bench]'`).

    .venv/bin/python benchmarks/ingest_bench.py [--rows 1000000] [--repeat 3] [--json out.json]

The file has ten mixed columns (integers, floats, one with empty cells, a category, free
text, booleans, ISO 8601 times, zip codes with leading zeros), about 95 bytes a row. Each
side runs in a process of its own, on one thread (pyarrow's CPU and I/O pools set to one;
pandas' C parser has one), `--repeat` times: its time is the best process CPU time (which,
unlike wall time, does not grow when other processes share the cores), its memory the peak
resident size (ru_maxrss) of its process, and the growth of that peak over the process once
its libraries are loaded. Roomcast's side runs with pandas unimportable, as the worker does
(pyarrow would otherwise load it, 0.3 s and 50 MiB, at its first conversion of a list).
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    categories = np.array([f"cat{i:02d}" for i in range(20)])
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    start = np.datetime64("2020-01-01T00:00:00")
    with path.open("w") as out:
        out.write("id,a,b,count,category,name,flag,at,c,zip\n")
        for first in range(0, rows, 100_000):
            n = min(100_000, rows - first)
            ids = np.arange(first, first + n)
            a = rng.normal(size=n)
            b = rng.uniform(0, 1000, size=n)
            count = rng.integers(0, 1000, size=n)
            cat = categories[rng.integers(0, len(categories), size=n)]
            names = ["".join(w) for w in letters[rng.integers(0, 26, size=(n, 22))]]
            flag = np.where(rng.random(n) < 0.5, "true", "false")
            at = (start + rng.integers(0, 10**8, size=n).astype("timedelta64[s]")).astype(str)
            c = np.where(rng.random(n) < 0.1, "", np.round(rng.normal(size=n), 4).astype(str))
            zips = np.char.zfill(rng.integers(0, 99_999, size=n).astype(str), 5)
            for row in zip(ids, a.round(6), b.round(3), count, cat, names, flag, at, c, zips,
                           strict=True):
                out.write(",".join(map(str, row)) + "\n")


def run_roomcast(path: Path) -> dict[str, Any]:
    # The worker does not depend on pandas (a benchmark-only extra), but pyarrow imports it
    # whenever it can, at the first `pa.array` of a Python list (about 0.3 s and 50 MiB): make
    # it unimportable here, as it is where the worker runs.
    sys.meta_path.insert(0, _WithoutPandas())
    import pyarrow as pa

    from workers.ingest.csv_reader import read_csv
    from workers.ingest.infer import profile, type_columns
    from workers.ingest.pipeline import write_parquet

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    loaded = _peak_kib()
    began = _cpu()
    table = pa.concat_tables([chunk for _, chunk in read_csv(path)])
    table = type_columns(table)
    columns = profile(table)
    with tempfile.TemporaryDirectory() as tmp:
        write_parquet(table, columns, Path(tmp) / "d.parquet")
    return {"cpu_s": _cpu() - began, "peak_kib": _peak_kib(), "loaded_kib": loaded,
            "rows": table.num_rows, "types": {c.name: c.type for c in columns}}


class _WithoutPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name.partition(".")[0] == "pandas":
            raise ImportError(f"{name} is not available on Roomcast's side")
        return None


def run_pandas(path: Path) -> dict[str, Any]:
    import pandas as pd

    loaded = _peak_kib()
    began = _cpu()
    frame = pd.read_csv(path)
    frame.describe(include="all")
    return {"cpu_s": _cpu() - began, "peak_kib": _peak_kib(), "loaded_kib": loaded,
            "rows": len(frame), "types": {k: str(v) for k, v in frame.dtypes.items()}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _side(side: str, path: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--side", side, "--file", str(path)],
                          cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                               "PATH": "/usr/bin:/bin"})
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--side", choices=["roomcast", "pandas"])
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.side:
        run = run_roomcast if args.side == "roomcast" else run_pandas
        print(json.dumps(run(args.file)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        write_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for side in ("roomcast", "pandas"):
                result = _side(side, path)
                if side not in best or result["cpu_s"] < best[side]["cpu_s"]:
                    best[side] = result
    ours, theirs = best["roomcast"], best["pandas"]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": args.rows,
        "file_mb": round(size_mb, 1),
        "roomcast_s": round(ours["cpu_s"], 2), "pandas_s": round(theirs["cpu_s"], 2),
        "time_ratio": round(ours["cpu_s"] / theirs["cpu_s"], 2),
        "roomcast_peak_mib": round(ours["peak_kib"] / 1024), "pandas_peak_mib":
        round(theirs["peak_kib"] / 1024),
        "peak_ratio": round(ours["peak_kib"] / theirs["peak_kib"], 2),
        "roomcast_growth_mib": round((ours["peak_kib"] - ours["loaded_kib"]) / 1024),
        "pandas_growth_mib": round((theirs["peak_kib"] - theirs["loaded_kib"]) / 1024),
        "roomcast_types": ours["types"], "pandas_types": theirs["types"],
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
