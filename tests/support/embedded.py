"""The embedded store opened on a directory of its own, for tests of repositories alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo import ASCENDING

from core.store.collection import Database
from core.store.embedded.client import EmbeddedClient, EmbeddedDatabase
from core.store.embedded.engine import open_engine


def embedded_driver(directory: Path, name: str = "roomcast") -> EmbeddedDatabase:
    """The embedded store's own database object, beneath the errors' translation."""
    engine = open_engine(directory, name, compact_bytes=64 * 1024 * 1024)
    return EmbeddedClient(engine, name)[name]


def embedded_database(directory: Path, name: str = "roomcast") -> Database:
    return Database(embedded_driver(directory, name))


async def everything(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, in `_id` order."""
    return {name: [doc async for doc in db[name].find({}).sort([("_id", ASCENDING)])]
            for name in await db.list_collection_names()}


def journals(directory: Path) -> list[Path]:
    return sorted(directory.glob("journal-*.log"))
