"""Files the embedded server writes at a normal stop for its next start (the rooms' history,
presence): each is written whole or not at all, and removed durably once taken back."""

from __future__ import annotations

import os
from pathlib import Path

from core.store.embedded.journal import sync_directory


def write_whole(path: Path, body: bytes) -> None:
    """Write `body` to `path` so that a crash leaves the old file or the new one, never part
    of it: written beside it, synced, renamed into place, the directory synced."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        file.write(body)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    sync_directory(path.parent)


def forget(path: Path) -> None:
    """Remove a saved file, durably: it must not come back after a crash."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    sync_directory(path.parent)
