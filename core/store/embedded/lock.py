"""One process owns an embedded store: an exclusive lock on a file in its directory, which the
operating system releases when the process dies, however it dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from core.errors import DataDirInUse


class DataDirLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "LOCK"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _written_pid(fd) or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"the embedded store in {directory} is in use by another Roomcast process "
                f"(pid {owner}): stop it first, or give this process its own DATA_DIR (several "
                "processes share one store through MONGO_URI)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def lock_owner(directory: Path) -> int | None:
    """The process that holds the store's lock in `directory`, by the PID it wrote there; None
    when no process holds it (or the directory holds no store yet)."""
    try:
        fd = os.open(directory / "LOCK", os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            written = _written_pid(fd)
            return int(written) if written.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _written_pid(fd: int) -> str:
    """What the lock's holder wrote in it: its PID (empty for the moment after it locked)."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip()
