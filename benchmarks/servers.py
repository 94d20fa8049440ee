"""Starting and stopping the servers a benchmark measures: free ports, CPU pinning, readiness."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "benchmarks" / "node"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """A process's user and system CPU seconds so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def compile_tree(root: Path = ROOT) -> None:
    """Write Roomcast's bytecode, as the Docker image has it (`compileall` at build): with
    PYTHONDONTWRITEBYTECODE set and none written, every server start compiles its modules
    again (about half a second of a restart)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "core", "api", "realtime",
                    "workers", "load", "roomcast"], cwd=root, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu)]
    return []


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path,
            cwd: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server for {url} not ready in {timeout}s")


def node_installed() -> Path:
    """benchmarks/node with its packages (socket.io, socket.io-client) installed from its lock
    by npm on first use; exits saying how to install node and npm when they are missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are not installed (apt-get install nodejs npm)")
    if not all((NODE_DIR / "node_modules" / name).is_dir()
               for name in ("socket.io", "socket.io-client")):
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                              capture_output=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"npm ci failed: {done.stderr.decode()[-300:]}")
    return NODE_DIR
