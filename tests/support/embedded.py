"""The embedded store opened on a directory of its own, for tests of repositories alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.store.embedded.client import EmbeddedClient
from core.store.embedded.engine import open_engine


def embedded_database(directory: Path, name: str = "roomcast") -> Any:
    engine = open_engine(directory, name, compact_bytes=64 * 1024 * 1024)
    return EmbeddedClient(engine, name)[name]
