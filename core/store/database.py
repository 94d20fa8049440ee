"""Opening the document store: a real MongoDB, or the in-process stand-in on the same API."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from core.settings import Settings

# Both clients expose PyMongo's async API surface that the repositories use.
Database = Any


def open_mongo(settings: Settings) -> tuple[Any, Database]:
    """Create the client (it connects lazily) and return it with the database."""
    if settings.mongo_uri:
        client: Any = AsyncMongoClient(
            settings.mongo_uri,
            tz_aware=True,
            serverSelectionTimeoutMS=settings.mongo_timeout_ms,
            connectTimeoutMS=settings.mongo_timeout_ms,
            uuidRepresentation="standard",
        )
    else:
        from mongomock_motor import AsyncMongoMockClient

        client = AsyncMongoMockClient(tz_aware=True)
    return client, client[settings.mongo_db]


async def close_mongo(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is None:
        return
    result = close()
    if hasattr(result, "__await__"):
        await result


async def ping(db: Database) -> None:
    await db.command("ping")
