"""What every repository shares: its collection, its indexes, document <-> model mapping."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

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
