"""Opening the document store: a real MongoDB, or the embedded store on the same API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from core.settings import Settings
from core.store.collection import Database
from core.store.embedded.client import EmbeddedClient
from core.store.embedded.engine import open_engine


def open_mongo(settings: Settings) -> tuple[AsyncMongoClient[dict[str, Any]] | EmbeddedClient,
                                            Database]:
    """Create the client and return it with the database. MongoDB's connects lazily; the
    embedded store is opened here: it takes its directory's lock and loads what it holds
    (DataDirInUse, StoreDamaged)."""
    client: AsyncMongoClient[dict[str, Any]] | EmbeddedClient
    if settings.mongo_uri:
        client = AsyncMongoClient(
            settings.mongo_uri,
            tz_aware=True,
            serverSelectionTimeoutMS=settings.mongo_timeout_ms,
            connectTimeoutMS=settings.mongo_timeout_ms,
            uuidRepresentation="standard",
        )
    else:
        engine = open_engine(embedded_directory(settings), settings.mongo_db,
                                compact_bytes=settings.store_journal_max_bytes)
        client = EmbeddedClient(engine, settings.mongo_db)
    return client, Database(client[settings.mongo_db])


def embedded_directory(settings: Settings) -> Path:
    return settings.data_dir / "store"


async def close_mongo(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is None:
        return
    result = close()
    if hasattr(result, "__await__"):
        await result
