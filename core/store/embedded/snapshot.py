"""Snapshots: every document of the store in one file, so start-up reads the journal written
since instead of every write ever made.

A snapshot is written under a temporary name, fsynced and renamed into place: a snapshot file
that exists was complete when written. It opens with a header frame and closes with a trailer
that counts its documents, so one cut short or damaged later is recognised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import StoreDamaged
from core.store.embedded.frames import BadFrame, decode, frame, iter_frames
from core.store.embedded.journal import sync_directory

FORMAT = 1


def damaged(path: Path, what: str) -> StoreDamaged:
    return StoreDamaged(
        f"the embedded store's file {path} is damaged ({what}). Roomcast will not start on an "
        "incomplete store: restore DATA_DIR from a backup, or move it aside and load your "
        "latest export into a fresh one with `roomcast import DIR`")


class SnapshotWriter:
    """Written from a worker thread: `write` each batch of frames, then `commit`."""

    def __init__(self, path: Path, generation: int) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".tmp")
        self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.documents = 0
        self.write(frame({"snapshot": FORMAT, "generation": generation}))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def commit(self) -> None:
        self.write(frame({"end": True, "documents": self.documents}))
        os.fsync(self._fd)
        os.close(self._fd)
        os.replace(self._tmp, self.path)
        sync_directory(self.path.parent)

    def abandon(self) -> None:
        os.close(self._fd)
        self._tmp.unlink(missing_ok=True)


def read_snapshot(path: Path) -> Iterator[dict[str, Any]]:
    """Each record ({"c": collection, "p": documents}) of a whole snapshot, or StoreDamaged."""
    try:
        frames = iter_frames(path.read_bytes())
        head = decode(next(frames, b""))  # an empty file decodes to nothing
        if head.get("snapshot") != FORMAT:
            raise damaged(path, "it does not start with a snapshot header")
        count = 0
        for body in frames:
            record = decode(body)
            if record.get("end"):
                if record.get("documents") != count or next(frames, None) is not None:
                    raise damaged(path, "its document count does not match its trailer")
                return
            count += len(record["p"])
            yield record
    except BadFrame as exc:
        raise damaged(path, f"at byte {exc.offset}: {exc.reason}") from None
    except (ValueError, KeyError, TypeError) as exc:  # bson.InvalidBSON is a ValueError
        raise damaged(path, f"unreadable: {exc}") from None
    raise damaged(path, "it ends before its trailer (cut short)")
