"""Charting a large dataset: the chart job's wall time and memory on a 1M-row table.

    .venv/bin/python benchmarks/chart_bench.py [--rows 1000000] [--repeat 3] [--only histogram]
                                              [--json out.json]

The table (x, y: floats; n: integer; at: datetime; label: 8 categories; ok: boolean) is
written once as ingestion writes it (zstd, row groups of `row_group_rows` rows). Each chart
kind then runs in a process of its own, on the embedded defaults of `roomcast serve` (the
embedded store and local objects in a temporary DATA_DIR): the job goes through the real
runner (`workers/runner.run_job`: lease, progress, the chart job, the stored chart), `repeat`
times with a new chart each time (no stored result is reused). A case's time is the best
wall time of its runs, and its CPU time the best of the process' CPU time (every thread) over
a run, which grows less than wall time when other processes share the cores. Its memory is
the process' peak resident set during the runs (sampled every 2 ms from /proc/self/statm) and
its growth above the resident set just before the first run (the interpreter, the libraries
and the stored table already loaded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES: dict[str, dict[str, Any]] = {
    "histogram": {"kind": "histogram", "x": "x", "bins": 50, "group_by": "label"},
    "bar": {"kind": "bar", "x": "label", "y": "y", "aggregation": "mean", "group_by": "ok"},
    "bar-median": {"kind": "bar", "x": "label", "y": "y", "aggregation": "median"},
    "line": {"kind": "line", "x": "at", "y": "x", "aggregation": "mean", "bins": 100},
    "scatter": {"kind": "scatter", "x": "x", "y": "y", "group_by": "label"},
    "box": {"kind": "box", "y": "y", "x": "label"},
    "heatmap": {"kind": "heatmap", "columns": ["x", "y", "n"]},
}
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakSampler:
    def __init__(self) -> None:
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workers.ingest.pipeline import row_group_rows

    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    table = pa.table({
        "x": x, "y": 2 * x + rng.normal(size=rows), "n": np.arange(rows, dtype=np.int64),
        "at": pa.array(start + rng.integers(0, 365 * 86_400_000_000, rows).astype(
            "timedelta64[us]"), pa.timestamp("us")),
        "label": pa.array([f"group-{i}" for i in range(8)])
        .take(pa.array(rng.integers(0, 8, rows))),
        "ok": rng.random(rows) < 0.5,
    })
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_rows(6))


async def run_case(table: Path, name: str, repeat: int, rows: int) -> dict[str, Any]:
    from core.settings import Settings
    from core.store.datasets import ColumnSchema, ColumnStats, DatasetDoc
    from core.store.jobs import JobDoc, JobKind
    from core.store.visualizations import ChartSpec, VisualizationDoc, check_spec, spec_hash
    from roomcast.factory import build_services
    from workers.runner import run_job

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(env="test", data_dir=Path(data_dir), log_json=False,
                            _env_file=None)  # type: ignore[call-arg]
        services = build_services(settings)
        await services.start()
        try:
            assert services.jobs is not None and services.jobs.deps is not None
            deps = services.jobs.deps
            key = "datasets/bench/data.parquet"
            await services.ctx.objects.put_bytes(key, await asyncio.to_thread(table.read_bytes),
                                                 content_type="x/parquet")
            stats = ColumnStats(count=rows, nulls=0, distinct=rows)
            types = {"x": "float", "y": "float", "n": "integer", "at": "datetime",
                     "label": "string", "ok": "boolean"}
            dataset = await services.ctx.stores.datasets.save(DatasetDoc(
                id="bench", project_id="p", upload_id="u", job_id="j", name="bench",
                format="csv", rows=rows, object_key=key, created_by="u",
                columns=[ColumnSchema(name=n, type=t, stats=stats, categorical=t == "string")
                         for n, t in types.items()]))
            spec = check_spec(dataset, ChartSpec.model_validate(CASES[name]))
            import matplotlib.figure  # noqa: F401 - a library, loaded before the baseline
            times: list[float] = []
            cpu_times: list[float] = []
            before = rss_bytes()
            with PeakSampler() as sampler:
                for _ in range(repeat):
                    job = JobDoc(project_id="p", kind=JobKind.VISUALIZATION, created_by="u",
                                 dataset_id=dataset.id, params={})
                    chart = VisualizationDoc(project_id="p", dataset_id=dataset.id,
                                             dataset_version=1, spec=spec,
                                             spec_hash=spec_hash(spec), job_id=job.id,
                                             created_by="u")
                    job.params = {"visualization_id": chart.id}
                    await services.ctx.stores.visualizations.create(chart)
                    await services.ctx.stores.jobs.create(job)
                    started, cpu = time.perf_counter(), time.process_time()
                    await run_job(deps, job.id)
                    times.append(time.perf_counter() - started)
                    cpu_times.append(time.process_time() - cpu)
                    done = await services.ctx.stores.jobs.get(job.id)
                    assert done is not None and done.status.value == "succeeded", done
            result = done.result or {}
        finally:
            await services.close()
    return {"case": name, "rows": result.get("rows"), "points": result.get("points"),
            "spec_bytes": result.get("spec_bytes"), "best_s": round(min(times), 3),
            "best_cpu_s": round(min(cpu_times), 3),
            "runs_s": [round(t, 3) for t in times],
            "peak_rss_mb": round(sampler.peak / 2**20, 1),
            "growth_mb": round((sampler.peak - before) / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child process' one case
    parser.add_argument("--table", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        row = asyncio.run(run_case(args.table, args.case, args.repeat, args.rows))
        print(json.dumps(row))
        return
    with tempfile.TemporaryDirectory() as scratch:
        table = Path(scratch) / "table.parquet"
        write_table(table, args.rows)
        print(f"{args.rows:,} rows, {table.stat().st_size / 2**20:.1f} MB of Parquet; "
              f"best of {args.repeat} runs per case")
        print(f"{'case':<12}{'best s':>8}{'CPU s':>7}{'peak MB':>9}{'growth MB':>11}"
              f"{'points':>8}{'spec KB':>9}")
        rows = []
        for name in args.only or list(CASES):
            out = subprocess.run(
                [sys.executable, __file__, "--case", name, "--table", str(table),
                 "--rows", str(args.rows), "--repeat", str(args.repeat)],
                check=True, capture_output=True, text=True, cwd=ROOT)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{name:<12}{row['best_s']:>8.2f}{row['best_cpu_s']:>7.2f}"
                  f"{row['peak_rss_mb']:>9.0f}"
                  f"{row['growth_mb']:>11.0f}{row['points']:>8}"
                  f"{row['spec_bytes'] / 1024:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
