"""What every repository shares: its collection, its indexes, document <-> model mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from core.errors import PartialWrite
from core.models import Page, PageParams
from core.store.collection import Database
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD

M = TypeVar("M", bound=BaseModel)


class Repository(Generic[M]):
    collection_name: ClassVar[str]
    model: type[M]

    def __init__(self, db: Database) -> None:
        self._db = db
        self._c = db[self.collection_name]

    async def ensure_indexes(self) -> None:
        """Create this collection's indexes; called once at start-up."""

    def version(self) -> int | None:
        """The collection's version (`Collection.version`): None when it cannot prove that
        nothing changed."""
        return self._c.version()

    def _load(self, doc: dict[str, Any]) -> M:
        doc = dict(doc)
        doc["id"] = doc.pop("_id")
        return self.model.model_validate(doc)

    @staticmethod
    def _dump(item: BaseModel) -> dict[str, Any]:
        doc = item.model_dump(mode="python")
        doc["_id"] = doc.pop("id")
        doc[VERSION_FIELD] = SCHEMA_VERSION
        return doc

    async def _get(self, **query: Any) -> M | None:
        doc = await self._c.find_one(query)
        return None if doc is None else self._load(doc)

    async def _page(
        self, query: dict[str, Any], params: PageParams, sort: list[tuple[str, int]]
    ) -> Page[M]:
        total = await self._c.count_documents(query)
        cursor = self._c.find(query).sort(sort).skip(params.offset).limit(params.limit)
        items = [self._load(doc) async for doc in cursor]
        return Page[M](items=items, total=total, limit=params.limit, offset=params.offset)


Pending = tuple[dict[str, Any], "asyncio.Future[None]"]


class GroupedInserts:
    """Documents inserted in groups: one `insert_many` takes every document added while the
    previous one was written (or, when none was, in the same loop turn). `insert` still returns
    only once its document is stored, or raises that document's error."""

    MAX_GROUP = 500

    def __init__(self, insert_many: Callable[[list[dict[str, Any]]], Awaitable[None]],
                 name: str) -> None:
        self._insert_many = insert_many  # unordered: a refused document fails alone
        self._name = name
        self._pending: list[Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, doc: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        self._pending.append((doc, stored))
        if self._writer is None:
            self._writer = loop.create_task(self._write(), name=self._name)
        await stored

    async def _write(self) -> None:
        group: list[Pending] = []
        try:
            while self._pending:
                group = self._pending[: self.MAX_GROUP]
                del self._pending[: self.MAX_GROUP]
                await self._insert(group)
        except asyncio.CancelledError:  # shutting down: whoever waits is told, not left hanging
            for _, stored in (*group, *self._pending):
                stored.cancel()
            self._pending.clear()
            raise
        finally:
            self._writer = None

    async def _insert(self, group: list[Pending]) -> None:
        failed: dict[int, Exception] = {}
        try:
            await self._insert_many([doc for doc, _ in group])
        except PartialWrite as exc:  # the others were written (ordered=False)
            failed = dict(exc.failed)
        except Exception as exc:  # nothing was written: every document gets the error
            failed = dict.fromkeys(range(len(group)), exc)
        for index, (_, stored) in enumerate(group):
            if stored.done():  # its writer went away (cancelled)
                continue
            error = failed.get(index)
            if error is None:
                stored.set_result(None)
            else:
                stored.set_exception(error)
