"""Stands in for parts of mongomock 4.3.0's `Collection` and `CollectionStore`: the only module
that reaches into mongomock's internals. Re-check on upgrade:
tests/unit/store/test_mongomock_canary.py.

- `Collection._iter_documents` (every query's scan): a query on `_id` (a value, or `$in`)
  looks its documents up instead of scanning the collection, and every document a write
  visits is noted in `changed`, so the engine can journal what the write left behind.
- `Collection._insert` (a single document): its `_id` is noted in `changed` once stored.
- `CollectionStore._ttl_indexes`: emptied, so no read scans for expired documents; the
  engine deletes them itself, through the journal (see engine.py).
- `CollectionStore._documents`: read and filled directly when a snapshot is written or the
  store is loaded, without the per-document work of `insert_one`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import mongomock
from mongomock.filtering import filter_applies

_SCALARS = (str, int, float, bytes)
# Typed as Any: mongomock ships no types of its own, and mypy would take PyMongo's for it.
_Collection: Any = mongomock.Collection
_filter_applies: Any = filter_applies


class TrackedCollection(_Collection):  # type: ignore[misc]
    def __init__(self, database: Any, name: str) -> None:
        super().__init__(database, name=name, _db_store=database._store,
                         codec_options=database.codec_options)
        # The ids of the documents the running write visited, in order; None outside writes.
        self.changed: dict[Any, None] | None = None

    def _iter_documents(self, filter: Mapping[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: A002
        found = self._by_id(filter)
        if found is None:
            found = super()._iter_documents(filter)
        changed = self.changed
        if changed is None:
            return found
        return _noting(found, changed)

    def _by_id(self, filter: Mapping[str, Any]) -> Iterator[dict[str, Any]] | None:  # noqa: A002
        wanted = filter.get("_id") if isinstance(filter, Mapping) else None
        if isinstance(wanted, _SCALARS):
            ids: Iterable[Any] = (wanted,)
        elif (isinstance(wanted, Mapping) and list(wanted) == ["$in"]
              and all(isinstance(v, _SCALARS) for v in wanted["$in"])):
            ids = dict.fromkeys(wanted["$in"])
        else:
            return None
        documents = self._store._documents
        hits = [documents[i] for i in ids if i in documents]
        return (doc for doc in hits if _filter_applies(filter, doc))

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        inserted = super()._insert(data, session, ordered)
        if self.changed is not None and isinstance(data, Mapping):
            self.changed[inserted] = None
        return inserted

    def create_index(self, key_or_list: Any, cache_for: int = 300, session: Any = None,
                     **kwargs: Any) -> str:
        name: str = super().create_index(key_or_list, cache_for, session, **kwargs)
        self._store._ttl_indexes.clear()
        return name

    # What the engine reads and loads.

    def document(self, doc_id: Any) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._store._documents.get(doc_id)
        return found

    def ids(self) -> list[Any]:
        return list(self._store._documents)

    def load(self, documents: Iterable[dict[str, Any]]) -> None:
        stored = self._store._documents
        for doc in documents:
            stored[doc["_id"]] = doc

    def unload(self, doc_ids: Iterable[Any]) -> None:
        stored = self._store._documents
        for doc_id in doc_ids:
            stored.pop(doc_id, None)

    def count(self) -> int:
        return len(self._store._documents)


def _noting(found: Iterable[dict[str, Any]], changed: dict[Any, None]
            ) -> Iterator[dict[str, Any]]:
    for doc in found:
        changed[doc["_id"]] = None
        yield doc


def new_database(name: str) -> Any:
    """A mongomock database of its own (naive UTC datetimes inside, aware ones returned)."""
    return mongomock.MongoClient(tz_aware=True)[name]
