"""Latency of a row prediction (`POST /models/{id}/predict` with rows) with the fitted-model
cache off (`MODEL_CACHE_BYTES=0`: the model is read from object storage and checked on every
call, as before the cache existed) and on (its default).

    .venv/bin/python benchmarks/predict_rows.py [--requests 200] [--rows 10] [--trees 100]
                                                [--rounds 2] [--s3] [--json out.json]

A `roomcast serve` is started on a free port (embedded default, DATA_DIR in a temporary
directory; with `--s3`, objects in a moto S3 server started for the run), a user, a project
and a training upload (`--train-rows` rows, three classes) are made over REST, and a random
forest of `--trees` trees and a k-means model are trained. Then, `--rounds` times, a server
with the cache off and one with it on (each started afresh on the same DATA_DIR, so the same
models) answer, for each model, `--requests` sequential predictions of `--rows` rows (after
20 not counted) from one HTTP client on the same machine. The report gives, per model and
setting over all rounds, the median, 90th percentile and mean wall time per request, and the
server process's CPU time per request (user + system, from /proc: less sensitive than wall
time to other work on a shared machine); and the size of each model's arrays file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.services import s3_server, start_roomcast  # noqa: E402

WARMUP = 20


@dataclass
class Timing:
    model: str
    cache: str
    requests: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    server_cpu_ms: float


def training_csv(rows: int) -> bytes:
    rng = np.random.default_rng(0)
    centres = {"a": (0.0, 0.0), "b": (4.0, 4.0), "c": (0.0, 4.0)}
    lines = ["x,y,kind"]
    for i in range(rows):
        name = "abc"[i % 3]
        x, y = np.array(centres[name]) + rng.normal(size=2) * 1.5
        lines.append(f"{x:.4f},{y:.4f},{name}")
    return ("\n".join(lines) + "\n").encode()


def wait_job(http: httpx.Client, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['status']}: {job}")
            return job
        time.sleep(0.2)
    raise RuntimeError(f"job {job_id} did not end in 600 s")


def prepare(http: httpx.Client, args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """Sign in, upload, train; the headers and {name: model id}."""
    account = {"email": "bench@example.com", "name": "Bench", "password": "correct horse battery"}
    http.post("/api/v1/auth/register", json=account).raise_for_status()
    token = http.post("/api/v1/auth/login", json={
        "email": account["email"], "password": account["password"]}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    project = http.post("/api/v1/projects", json={"name": "Bench"}, headers=headers).json()["id"]
    started = http.post(f"/api/v1/projects/{project}/uploads", headers=headers,
                        files={"file": ("train.csv", training_csv(args.train_rows))})
    started.raise_for_status()
    dataset = wait_job(http, started.json()["job_id"], headers)["result"]["dataset_id"]
    models = {}
    for name, params in (
        (f"random forest of {args.trees}", {"algorithm": "random_forest", "target": "kind",
                                            "n_estimators": args.trees}),
        ("k-means, k=3", {"algorithm": "kmeans", "k": 3}),
    ):
        job = http.post(f"/api/v1/datasets/{dataset}/analyses", json=params, headers=headers)
        job.raise_for_status()
        models[name] = wait_job(http, job.json()["job_id"], headers)["result"]["model_id"]
    return headers, models


def time_predictions(http: httpx.Client, headers: dict[str, str], model_id: str,
                     args: argparse.Namespace) -> list[float]:
    rng = np.random.default_rng(1)
    body = {"rows": [{"x": float(x), "y": float(y)}
                     for x, y in rng.normal(size=(args.rows, 2)) * 3]}
    url = f"/api/v1/models/{model_id}/predict"
    times = []
    for index in range(args.requests + WARMUP):
        started = time.perf_counter()
        answer = http.post(url, json=body, headers=headers)
        elapsed = time.perf_counter() - started
        answer.raise_for_status()
        if index >= WARMUP:
            times.append(elapsed * 1000)
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (fields 14 and 15 of /proc/{pid}/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(model: str, cache: str, times: list[float], cpu: float) -> Timing:
    ordered = sorted(times)
    return Timing(model, cache, len(times), round(statistics.median(ordered), 2),
                  round(ordered[int(0.9 * (len(ordered) - 1))], 2),
                  round(statistics.fmean(ordered), 2), round(cpu * 1000 / len(times), 2))


@contextlib.contextmanager
def object_storage(use_s3: bool) -> Iterator[dict[str, str]]:
    if not use_s3:
        yield {}
        return
    with s3_server() as s3:
        yield {"S3_ENDPOINT": s3.endpoint, "S3_ACCESS_KEY": s3.access_key,
               "S3_SECRET_KEY": s3.secret_key, "S3_BUCKET": "bench", "S3_SECURE": "false"}


def measure(args: argparse.Namespace, work: Path) -> tuple[list[Timing], dict[str, int]]:
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu: dict[tuple[str, str], float] = defaultdict(float)
    with object_storage(args.s3) as storage:
        env = {"DATA_DIR": str(work / "data"), "LOG_LEVEL": "WARNING", **storage,
               "RATE_LIMIT_IP_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000"}
        server = start_roomcast(env, work)
        try:
            with httpx.Client(base_url=server.url, timeout=600) as http:
                headers, models = prepare(http, args)
        finally:
            server.stop()
        sizes = {} if args.s3 else {name: arrays_size(work / "data", model_id)
                                    for name, model_id in models.items()}
        for _ in range(args.rounds):
            for cache, setting in (("off", {"MODEL_CACHE_BYTES": "0"}), ("on", {})):
                server = start_roomcast({**env, **setting}, work)
                try:
                    with httpx.Client(base_url=server.url, timeout=120) as http:
                        for name, model_id in models.items():
                            before = cpu_seconds(server.proc.pid)
                            got = time_predictions(http, headers, model_id, args)
                            cpu[name, cache] += cpu_seconds(server.proc.pid) - before
                            times[name, cache].extend(got)
                finally:
                    server.stop()
    results = [summary(name, cache, times[name, cache], cpu[name, cache])
               for name in models for cache in ("off", "on")]
    return results, sizes


def arrays_size(data_dir: Path, model_id: str) -> int:
    found = list(data_dir.rglob(f"{model_id}/arrays.npz"))
    return found[0].stat().st_size if found else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--train-rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--s3", action="store_true", help="objects in a moto S3 server")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results, sizes = measure(args, Path(tmp))
    print(f"{'model':<22} {'cache':<5} {'median ms':>9} {'p90 ms':>7} {'mean ms':>7} "
          f"{'server CPU ms':>13}")
    for t in results:
        print(f"{t.model:<22} {t.cache:<5} {t.median_ms:>9} {t.p90_ms:>7} {t.mean_ms:>7} "
              f"{t.server_cpu_ms:>13}")
    for name, size in sizes.items():
        print(f"{name}: arrays.npz {size} bytes")
    if args.json:
        args.json.write_text(json.dumps({"results": [asdict(t) for t in results],
                                         "arrays_bytes": sizes}, indent=2))


if __name__ == "__main__":
    main()
