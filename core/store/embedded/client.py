"""PyMongo's async API, as far as the repositories use it, over the embedded engine.

Reads run on the documents in memory; each write runs at once (nothing else runs during it,
so it is atomic, like a single-document write in MongoDB) and returns once the engine has made
what it changed durable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import OperationFailure

from core.store.embedded.engine import EmbeddedEngine
from core.store.embedded.mongomock_collection import TrackedCollection

T = TypeVar("T")
# What mongomock refuses with Python's own errors (an unknown operator, a value of the wrong
# type, a feature it lacks), MongoDB refuses with OperationFailure: raised as MongoDB does, so
# both backends fail alike (core/store/errors.py translates them once).
REFUSALS = (ValueError, TypeError, NotImplementedError)


def as_mongodb(op: Callable[[], T]) -> T:
    try:
        return op()
    except REFUSALS as exc:
        raise OperationFailure(f"the embedded store refused it: {exc}") from exc


class EmbeddedCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._rows: Any = None

    def sort(self, key: Any, direction: int | None = None) -> EmbeddedCursor:
        self._cursor = self._cursor.sort(key, direction)
        return self

    def skip(self, count: int) -> EmbeddedCursor:
        self._cursor = self._cursor.skip(count)
        return self

    def limit(self, count: int) -> EmbeddedCursor:
        self._cursor = self._cursor.limit(count)
        return self

    def __aiter__(self) -> EmbeddedCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._rows is None:
            self._rows = iter(self._cursor)
        try:
            row: dict[str, Any] = as_mongodb(lambda: next(self._rows))
        except StopIteration:
            raise StopAsyncIteration from None
        return row

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        rows = [row async for row in self]
        return rows if length is None else rows[:length]


class EmbeddedCollection:
    def __init__(self, engine: EmbeddedEngine, name: str) -> None:
        self._engine = engine
        self._c: TrackedCollection = engine.collection(name)
        self.name = name

    # Reads.

    def find(self, *args: Any, **kwargs: Any) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.find(*args, **kwargs))

    async def find_one(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        found: dict[str, Any] | None = as_mongodb(lambda: self._c.find_one(*args, **kwargs))
        return found

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:  # noqa: A002
        return int(as_mongodb(lambda: self._c.count_documents(filter, **kwargs)))

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None) -> list[Any]:  # noqa: A002
        found: list[Any] = as_mongodb(lambda: self._c.distinct(key, filter))
        return found

    async def aggregate(self, pipeline: list[dict[str, Any]]) -> EmbeddedCursor:
        return EmbeddedCursor(self._c.aggregate(pipeline))

    async def index_information(self) -> dict[str, Any]:
        return dict(self._c.index_information())

    def writes(self) -> int:
        """How many writes this collection has taken since the engine opened."""
        return self._engine.writes.get(self.name, 0)

    # Writes.

    async def _write(self, op: Callable[[], T]) -> T:
        return await self._engine.write(self._c, lambda: as_mongodb(op))

    async def insert_one(self, document: dict[str, Any], **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.insert_one(document, **kwargs))

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True,
                          **kwargs: Any) -> Any:
        return await self._write(
            lambda: self._c.insert_many(documents, ordered=ordered, **kwargs))

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.update_one(*args, **kwargs))

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.update_many(*args, **kwargs))

    async def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.replace_one(*args, **kwargs))

    async def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.delete_one(*args, **kwargs))

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self._write(lambda: self._c.delete_many(*args, **kwargs))

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        if kwargs.get("return_document") is True:  # PyMongo reads True as AFTER too
            kwargs["return_document"] = ReturnDocument.AFTER
        found: dict[str, Any] | None = await self._write(
            lambda: self._c.find_one_and_update(*args, **kwargs))
        return found

    async def find_one_and_delete(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._write(
            lambda: self._c.find_one_and_delete(*args, **kwargs))
        return found

    async def drop(self) -> None:
        await self.delete_many({})

    # Indexes: kept in memory and made again at every start-up (Stores.ensure_indexes).

    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        name: str = self._c.create_index(keys, **kwargs)
        seconds = kwargs.get("expireAfterSeconds")
        if seconds is not None and isinstance(keys, list) and len(keys) == 1:
            self._engine.expire(self.name, keys[0][0], int(seconds))
        return name


class EmbeddedDatabase:
    def __init__(self, client: EmbeddedClient, name: str) -> None:
        self.client = client
        self.name = name
        self._collections: dict[str, EmbeddedCollection] = {}

    def __getitem__(self, name: str) -> EmbeddedCollection:
        return self.get_collection(name)

    def get_collection(self, name: str) -> EmbeddedCollection:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = EmbeddedCollection(self.client.engine, name)
        return found

    async def list_collection_names(self) -> list[str]:
        return self.client.engine.collection_names()

    async def drop_collection(self, name: str) -> None:
        await self[name].drop()

    async def command(self, command: str | Mapping[str, Any]) -> dict[str, Any]:
        name = command if isinstance(command, str) else next(iter(command))
        if name != "ping":
            raise NotImplementedError(f"the embedded store answers only ping, not {name!r}")
        self.client.engine.check()
        return {"ok": 1.0}


class EmbeddedClient:
    """The embedded store's client: one database, whatever its name (MONGO_DB)."""

    def __init__(self, engine: EmbeddedEngine, database: str) -> None:
        self.engine = engine
        self._database = EmbeddedDatabase(self, database)

    def __getitem__(self, name: str) -> EmbeddedDatabase:
        return self._database

    def get_database(self, name: str | None = None) -> EmbeddedDatabase:
        return self._database

    async def drop_database(self, name: str) -> None:
        for collection in await self._database.list_collection_names():
            await self._database.drop_collection(collection)

    async def close(self) -> None:
        await self.engine.close()
