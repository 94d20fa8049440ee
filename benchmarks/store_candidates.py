"""The embedded document stores compared for the embedded default (docs/operations.md), each
behind the repositories' one code path (PyMongo's async API).

- `journal`: Roomcast's embedded store (core/store/embedded): mongomock's query engine in
  memory, every write journaled and fsynced before it is acknowledged, snapshots.
- `memory`: what the embedded default was before it, mongomock-motor (in memory, nothing kept).
- `montydb-sqlite`, `montydb-lmdb`: MontyDB (a MongoDB-like engine in Python) on its SQLite and
  LMDB ("lightning") storage, behind a thin async wrapper: each call runs as it comes.
- `mongita`: Mongita's disk client, behind the same wrapper.

Used three ways: `python -m pytest -p benchmarks.store_candidates` runs tests on the candidate
named by STORE_CANDIDATE; `python -m benchmarks.store_candidates serve ...` is `roomcast serve`
on it; `open_candidate` opens one for the start-up and disk measurements.
The candidates other than `journal` need `pip install -e '.[store-candidates]'`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

CANDIDATES = ["journal", "memory", "montydb-sqlite", "montydb-lmdb", "mongita"]


class SyncCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._rows: Any = None

    def sort(self, *args: Any) -> SyncCursor:
        self._cursor = self._cursor.sort(*args)
        return self

    def skip(self, n: int) -> SyncCursor:
        self._cursor = self._cursor.skip(n)
        return self

    def limit(self, n: int) -> SyncCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def __aiter__(self) -> SyncCursor:
        return self

    async def __anext__(self) -> Any:
        if self._rows is None:
            self._rows = iter(self._cursor)
        try:
            return next(self._rows)
        except StopIteration:
            raise StopAsyncIteration from None


class SyncCollection:
    """A synchronous PyMongo-like collection, called as the async API is (each call runs whole
    when it is made, on the event loop)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def find(self, *args: Any, **kwargs: Any) -> SyncCursor:
        return SyncCursor(self._inner.find(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


class SyncDatabase:
    def __init__(self, inner: Any, client: Any) -> None:
        self._inner = inner
        self.client = client

    def __getitem__(self, name: str) -> SyncCollection:
        return SyncCollection(self._inner[name])

    async def command(self, *args: Any) -> dict[str, Any]:
        return {"ok": 1.0}

    async def list_collection_names(self) -> list[str]:
        return list(self._inner.list_collection_names())


class SyncClient:
    def __init__(self, inner: Any, name: str) -> None:
        self._db = SyncDatabase(inner[name], self)
        self._inner = inner

    def __getitem__(self, name: str) -> SyncDatabase:
        return self._db

    async def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def open_candidate(name: str, directory: Path, database: str = "roomcast") -> tuple[Any, Any]:
    """(client, database) of candidate `name` keeping its files in `directory`."""
    if name == "journal":
        from core.store.embedded.client import EmbeddedClient
        from core.store.embedded.engine import open_engine

        client: Any = EmbeddedClient(open_engine(directory, database,
                                                 compact_bytes=64 * 1024 * 1024), database)
        return client, client[database]
    if name == "memory":
        from mongomock_motor import AsyncMongoMockClient

        client = AsyncMongoMockClient(tz_aware=True)
        return client, client[database]
    directory.mkdir(parents=True, exist_ok=True)
    if name.startswith("montydb"):
        from montydb import MontyClient, set_storage

        storage = {"montydb-sqlite": "sqlite", "montydb-lmdb": "lightning"}[name]
        if not (directory / "monty.storage.cfg").exists():
            set_storage(str(directory), storage=storage)
        client = SyncClient(MontyClient(str(directory)), database)
        return client, client[database]
    if name == "mongita":
        from mongita import MongitaClientDisk

        client = SyncClient(MongitaClientDisk(str(directory)), database)
        return client, client[database]
    raise ValueError(f"unknown candidate {name!r}: one of {', '.join(CANDIDATES)}")


def install(name: str) -> None:
    """Make `open_mongo` (without MONGO_URI) open candidate `name` in this process."""
    import core.store.database as database
    import roomcast.factory as factory
    from core.store.collection import Database

    real = database.open_mongo

    def open_mongo(settings: Any) -> tuple[Any, Any]:
        if settings.mongo_uri or name == "journal":
            return real(settings)
        client, db = open_candidate(name, settings.data_dir / name, settings.mongo_db)
        return client, Database(db)  # the repositories' typed API, as open_mongo gives it

    database.open_mongo = open_mongo
    factory.open_mongo = open_mongo  # type: ignore[attr-defined]


def pytest_configure(config: Any) -> None:  # as a pytest plugin (-p benchmarks.store_candidates)
    install(os.environ.get("STORE_CANDIDATE", "journal"))


def main() -> int:
    """`python -m benchmarks.store_candidates CANDIDATE serve --port P`: serve on it."""
    name, *argv = sys.argv[1:]
    install(name)
    from roomcast.cli import main as roomcast

    return roomcast(argv)


if __name__ == "__main__":
    raise SystemExit(main())
