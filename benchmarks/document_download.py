"""Memory of a `roomcast serve` process while a large document goes through it: uploaded
(streamed to object storage) and downloaded (streamed back), on the embedded default with
objects in DATA_DIR.

    .venv/bin/python benchmarks/document_download.py [--size-mb 1024] [--json out.json]

A server is started in a process of its own on a free port (DATA_DIR in a temporary
directory), a user and a project are made over REST, a file of `--size-mb` MiB (a random
MiB repeated) is uploaded as a document and downloaded twice by a streaming client that
hashes what it reads. The server's resident memory (VmRSS from /proc) is sampled every 20 ms;
the report gives it before, its peak during each transfer and the growth, with the transfer
rate and whether the SHA-256 of what came back equals the original's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.services import start_roomcast  # noqa: E402

MIB = 1024 * 1024


@dataclass
class Transfer:
    what: str
    mib: int
    seconds: float
    mib_per_s: float
    rss_before_mib: float
    rss_peak_mib: float
    growth_mib: float
    sha256_equal: bool


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Sampler:
    """The peak resident memory of a process, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib(self.pid))


def make_file(path: Path, mib: int) -> str:
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for index in range(mib):
            chunk = block[index % 997:] + block[:index % 997]  # no two MiB alike in a row
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def sign_in(http: httpx.Client) -> tuple[dict[str, str], str]:
    account = {"email": "bench@example.com", "name": "Bench", "password": "correct horse battery"}
    http.post("/api/v1/auth/register", json=account).raise_for_status()
    token = http.post("/api/v1/auth/login", json={
        "email": account["email"], "password": account["password"]}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    project = http.post("/api/v1/projects", json={"name": "Bench"}, headers=headers)
    project.raise_for_status()
    return headers, project.json()["id"]


def timed(what: str, mib: int, pid: int, run: Any, expected: str) -> Transfer:
    before = rss_mib(pid)
    started = time.perf_counter()
    with Sampler(pid) as sampler:
        got = run()
    seconds = time.perf_counter() - started
    return Transfer(what, mib, round(seconds, 2), round(mib / seconds, 1), round(before, 1),
                    round(sampler.peak, 1), round(sampler.peak - before, 1), got == expected)


def download(http: httpx.Client, url: str, headers: dict[str, str]) -> str:
    digest = hashlib.sha256()
    with http.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def measure(mib: int, work: Path) -> list[Transfer]:
    source = work / "document.bin"
    expected = make_file(source, mib)
    env = {"DATA_DIR": str(work / "data"), "DOCUMENT_MAX_BYTES": str((mib + 1) * MIB),
           "PROJECT_STORAGE_QUOTA_BYTES": str(4 * (mib + 1) * MIB), "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_IP_PER_MINUTE": "100000", "RATE_LIMIT_USER_PER_MINUTE": "100000"}
    server = start_roomcast(env, work)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            headers, project_id = sign_in(http)
            pid = server.proc.pid

            def upload() -> str:
                with source.open("rb") as handle:
                    made = http.post(f"/api/v1/projects/{project_id}/documents",
                                     files={"file": ("big.bin", handle)}, headers=headers)
                made.raise_for_status()
                return str(made.json()["document"]["sha256"])

            rows = [timed("upload", mib, pid, upload, expected)]
            listed = http.get(f"/api/v1/projects/{project_id}/documents", headers=headers)
            url = listed.json()["items"][0]["url"]
            for turn in (1, 2):
                rows.append(timed(f"download {turn}", mib, pid,
                                  lambda: download(http, url, headers), expected))
            return rows
    finally:
        server.stop()


def table(rows: list[Transfer]) -> Iterator[str]:
    yield "| transfer | MiB | s | MiB/s | RSS before | RSS peak | growth | sha256 equal |"
    yield "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for r in rows:
        yield (f"| {r.what} | {r.mib} | {r.seconds} | {r.mib_per_s} | {r.rss_before_mib} | "
               f"{r.rss_peak_mib} | {r.growth_mib} | {r.sha256_equal} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roomcast-docbench-") as tmp:
        rows = measure(args.size_mb, Path(tmp))
    print("\n".join(table(rows)))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0 if all(r.sha256_equal for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
