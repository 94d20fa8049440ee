"""Schema versions: every stored document carries the version of the shape it was written in
(`_v`), the store records the version it was last brought to, and ordered migrations bring
older documents up to date at start-up.

A migration changes the documents of its collections that are below its version and sets
their `_v` to it, in one update: running it again finds nothing to change (idempotent), and a
start-up that stops half-way is finished by the next one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.ids import utcnow
from core.store.collection import Database

SCHEMA_VERSION = 1
VERSION_FIELD = "_v"
META_COLLECTION = "_meta"
SCHEMA_ID = "schema"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    update: Mapping[str, Any]  # an update document applied to each document below `version`
    collections: Sequence[str] | None = None  # None: every collection of the store


# In order. A new one takes the next version, and SCHEMA_VERSION moves to it.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "stamp the documents written before schema versions existed", {"$set": {}}),
)


def below(version: int) -> dict[str, Any]:
    return {"$or": [{VERSION_FIELD: {"$exists": False}}, {VERSION_FIELD: {"$lt": version}}]}


@dataclass(frozen=True)
class Step:
    """One migration on one collection: how many documents it changes (or would)."""

    version: int
    description: str
    collection: str
    documents: int


class MigrationRunner:
    def __init__(self, db: Database, collections: Sequence[str],
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self._db = db
        self._collections = list(collections)
        self._migrations = migrations
        self.target = migrations[-1].version if migrations else 0

    async def stored_version(self) -> int:
        doc = await self._db[META_COLLECTION].find_one({"_id": SCHEMA_ID})
        return int(doc["version"]) if doc else 0

    async def check(self) -> int:
        """The store's version; ConfigError if a newer Roomcast wrote it."""
        stored = await self.stored_version()
        if stored > self.target:
            raise ConfigError(
                f"the store is at schema version {stored}, newer than this Roomcast's "
                f"{self.target}: run the Roomcast that wrote it (or a newer one), or restore a "
                "backup made by this version")
        return stored

    async def plan(self) -> list[Step]:
        """What `run` would change, without changing anything."""
        stored = await self.check()
        return [step async for step in self._steps(stored, apply=False)]

    async def run(self) -> list[Step]:
        stored = await self.check()
        steps = [step async for step in self._steps(stored, apply=True)]
        if stored != self.target:
            await self._db[META_COLLECTION].update_one(
                {"_id": SCHEMA_ID},
                {"$set": {"version": self.target, "migrated_at": utcnow()}}, upsert=True)
        return steps

    async def _steps(self, stored: int, *, apply: bool) -> Any:
        # Only what the store lacks: a start-up on an up-to-date store reads no collection.
        for migration in (m for m in self._migrations if m.version > stored):
            for name in migration.collections or self._collections:
                query = below(migration.version)
                if apply:
                    update = {**migration.update}
                    update["$set"] = {**update.get("$set", {}),
                                      VERSION_FIELD: migration.version}
                    result = await self._db[name].update_many(query, update)
                    count = int(result.modified_count)
                else:
                    count = int(await self._db[name].count_documents(query))
                yield Step(migration.version, migration.description, name, count)
