"""The store's offline commands: `export`, `import`, `migrate` (and `create-admin`'s store).

Each opens the configured store as `roomcast serve` does. The embedded store has one owner,
so these run while its server is stopped (a running one is named in the refusal).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from core.settings import Settings
from core.store.database import close_mongo, open_mongo
from core.store.stores import Stores
from roomcast.factory import build_object_storage
from roomcast.transfer import export_store, import_store


@contextlib.asynccontextmanager
async def opened_stores(settings: Settings) -> AsyncIterator[Stores]:
    client, db = open_mongo(settings)
    try:
        yield Stores.over(db)
    finally:
        await close_mongo(client)


def _where(settings: Settings) -> str:
    store = "MongoDB" if settings.mongo_uri else f"the embedded store in {settings.data_dir}"
    objects = "S3" if settings.s3_endpoint else f"{settings.data_dir / 'objects'}"
    return f"{store} and {objects}"


async def export_command(settings: Settings, target: Path) -> str:
    async with opened_stores(settings) as stores:
        summary = await export_store(stores, build_object_storage(settings), target)
    return f"exported {summary.line()} from {_where(settings)} to {target}"


async def import_command(settings: Settings, source: Path) -> str:
    async with opened_stores(settings) as stores:
        summary = await import_store(stores, build_object_storage(settings), source)
        # An older dump is brought to this version's schema, as a start-up would.
        await stores.migrations().run()
    return f"imported {summary.line()} into {_where(settings)}; counts and checksums verified"


async def migrate_command(settings: Settings, *, dry_run: bool) -> str:
    async with opened_stores(settings) as stores:
        runner = stores.migrations()
        stored = await runner.stored_version()
        steps = await (runner.plan() if dry_run else runner.run())
    lines = [f"schema version {stored} -> {runner.target}"
             + (" (dry run: nothing changed)" if dry_run else "")]
    verb = "would change" if dry_run else "changed"
    for step in steps:
        if step.documents:
            lines.append(f"  {step.version} {step.description}: {step.collection}: "
                         f"{verb} {step.documents} documents")
    if len(lines) == 1:
        lines.append("  nothing to change")
    return "\n".join(lines)
