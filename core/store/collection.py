"""The document store as the repositories see it: PyMongo's async API, as far as Roomcast uses
it, over MongoDB's driver or the embedded store, with every driver error turned into ours
(core/store/errors.py) on its way out.

Typed on purpose: mypy checks each repository call against these signatures, and each of
these against PyMongo's own (the embedded store's classes accept what PyMongo accepts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase

from core.errors import StoreFailed
from core.store.embedded.client import EmbeddedCollection, EmbeddedCursor, EmbeddedDatabase
from core.store.errors import translated

Document = dict[str, Any]
Filter = Mapping[str, Any]
Update = Mapping[str, Any] | Sequence[Mapping[str, Any]]  # operators, or a pipeline
Sort = str | Sequence[tuple[str, int]]
DriverDatabase = AsyncDatabase[Document] | EmbeddedDatabase
DriverCollection = AsyncCollection[Document] | EmbeddedCollection
DriverCursor = AsyncCursor[Document] | EmbeddedCursor


@dataclass(frozen=True)
class UpdateResult:
    matched_count: int
    modified_count: int
    upserted_id: Any = None


@dataclass(frozen=True)
class DeleteResult:
    deleted_count: int


class Cursor:
    """The documents a `find` matches; the query runs at the first iteration."""

    def __init__(self, inner: DriverCursor) -> None:
        self._inner = inner

    def sort(self, key: Sort, direction: int | None = None) -> Cursor:
        self._inner = self._inner.sort(key, direction)
        return self

    def skip(self, count: int) -> Cursor:
        self._inner = self._inner.skip(count)
        return self

    def limit(self, count: int) -> Cursor:
        self._inner = self._inner.limit(count)
        return self

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Document:
        with translated():
            return await self._inner.__anext__()


class Collection:
    def __init__(self, inner: DriverCollection) -> None:
        self._inner = inner
        self.name = inner.name

    def version(self) -> int | None:
        """A number that changes with every write to the collection, where this process is
        its only writer (the embedded store: one process owns its directory); None over
        MongoDB, which other processes write to unseen. Equal twice, nothing changed between."""
        inner = self._inner
        return inner.writes() if isinstance(inner, EmbeddedCollection) else None

    # Reads.

    def find(self, filter: Filter | None = None,  # noqa: A002 (PyMongo's name)
             projection: Mapping[str, Any] | None = None) -> Cursor:
        with translated():
            return Cursor(self._inner.find(filter, projection))

    async def find_one(self, filter: Filter | None = None,  # noqa: A002
                       projection: Mapping[str, Any] | None = None, *,
                       sort: Sort | None = None) -> Document | None:
        with translated():
            return await self._inner.find_one(filter, projection, sort=sort)

    async def count_documents(self, filter: Filter) -> int:  # noqa: A002
        with translated():
            return int(await self._inner.count_documents(filter))

    async def distinct(self, key: str, filter: Filter | None = None) -> list[Any]:  # noqa: A002
        with translated():
            return list(await self._inner.distinct(key, filter))

    async def index_information(self) -> dict[str, Any]:
        with translated():
            return dict(await self._inner.index_information())

    # Writes.

    async def insert_one(self, document: Document) -> None:
        with translated():
            await self._inner.insert_one(document)

    async def insert_many(self, documents: Sequence[Document], *, ordered: bool = True) -> None:
        with translated():
            await self._inner.insert_many(list(documents), ordered=ordered)

    async def update_one(self, filter: Filter, update: Update, *,  # noqa: A002
                         upsert: bool = False) -> UpdateResult:
        with translated():
            return _updated(await self._inner.update_one(filter, update, upsert=upsert))

    async def update_many(self, filter: Filter, update: Update) -> UpdateResult:  # noqa: A002
        with translated():
            return _updated(await self._inner.update_many(filter, update))

    async def replace_one(self, filter: Filter, replacement: Document, *,  # noqa: A002
                          upsert: bool = False) -> UpdateResult:
        with translated():
            return _updated(await self._inner.replace_one(filter, replacement, upsert=upsert))

    async def delete_one(self, filter: Filter) -> DeleteResult:  # noqa: A002
        with translated():
            return DeleteResult(int((await self._inner.delete_one(filter)).deleted_count))

    async def delete_many(self, filter: Filter) -> DeleteResult:  # noqa: A002
        with translated():
            return DeleteResult(int((await self._inner.delete_many(filter)).deleted_count))

    async def find_one_and_update(
        self, filter: Filter, update: Update, *,  # noqa: A002
        projection: Mapping[str, Any] | None = None, sort: Sort | None = None,
        upsert: bool = False, return_document: bool = ReturnDocument.BEFORE,
    ) -> Document | None:
        with translated():
            return await self._inner.find_one_and_update(
                filter, update, projection=projection, sort=sort, upsert=upsert,
                return_document=return_document)

    async def find_one_and_upsert(self, filter: Filter, update: Update) -> Document:  # noqa: A002
        """Update the matching document, or insert it, and return it as it is now."""
        found = await self.find_one_and_update(filter, update, upsert=True,
                                               return_document=ReturnDocument.AFTER)
        if found is None:  # an upsert always leaves a document behind
            raise StoreFailed(f"an upsert into {self.name} returned no document")
        return found

    async def find_one_and_delete(self, filter: Filter, *,  # noqa: A002
                                  sort: Sort | None = None) -> Document | None:
        with translated():
            return await self._inner.find_one_and_delete(filter, sort=sort)

    async def drop(self) -> None:
        with translated():
            await self._inner.drop()

    async def create_index(self, keys: Sort, *, unique: bool = False, sparse: bool = False,
                           expireAfterSeconds: int | None = None) -> str:
        options: dict[str, Any] = {}
        if unique:
            options["unique"] = True
        if sparse:
            options["sparse"] = True
        if expireAfterSeconds is not None:
            options["expireAfterSeconds"] = expireAfterSeconds
        with translated():
            return str(await self._inner.create_index(keys, **options))


def _updated(result: Any) -> UpdateResult:
    return UpdateResult(int(result.matched_count), int(result.modified_count),
                        result.upserted_id)


class Database:
    """One database of the document store: MongoDB's, or the embedded store's."""

    def __init__(self, inner: DriverDatabase) -> None:
        self._inner = inner
        self._collections: dict[str, Collection] = {}

    def __getitem__(self, name: str) -> Collection:
        found = self._collections.get(name)
        if found is None:
            found = self._collections[name] = Collection(self._inner[name])
        return found

    async def list_collection_names(self) -> list[str]:
        with translated():
            return list(await self._inner.list_collection_names())

    async def ping(self) -> None:
        with translated():
            await self._inner.command("ping")

    async def drop(self) -> None:
        """Drop every collection of the database (tests start from an empty store)."""
        with translated():
            await self._inner.client.drop_database(self._inner.name)
