"""`roomcast export` / `roomcast import` (backup, restore, the move to MongoDB + S3) and
`roomcast migrate`, run as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from core.errors import ConfigError
from core.store.schema import SCHEMA_VERSION
from roomcast.factory import build_object_storage
from roomcast.maintenance import export_command, import_command, migrate_command, opened_stores
from roomcast.transfer import DumpRefused, import_store, read_manifest
from tests.integration.store.support import contents, populate
from tests.integration.store.test_restart import run_cli
from tests.support.domain import running
from tests.support.services import S3Server


async def exported(make_settings: Any, tmp_path: Path, *, jobs: bool = False,
                   cli: bool = False) -> tuple[dict[str, Any], Path]:
    """A populated embedded store, stopped and exported with the CLI; its contents and dump."""
    source = make_settings(data_dir=tmp_path / "source")
    async with running(source) as services:
        await populate(services, jobs=jobs)
        before = await contents(services.ctx.stores, services.ctx.objects)
    dump = tmp_path / "dump"
    if cli:
        done = await asyncio.to_thread(run_cli, ["export", str(dump)],
                                       {"DATA_DIR": str(source.data_dir)})
        assert done.returncode == 0, done.stderr
        said = done.stdout
    else:
        said = await export_command(source, dump)
    documents = sum(len(docs) for name, docs in before.items() if name != "objects")
    assert said.startswith(f"exported {documents} documents in {len(before) - 1} "
                           f"collections, {len(before['objects'])} objects")
    return before, dump


async def test_export_then_import_into_a_fresh_embedded_store_is_equal(
    make_settings: Any, tmp_path: Path
) -> None:
    before, dump = await exported(make_settings, tmp_path, jobs=True, cli=True)
    assert any(key.endswith(".png") for key in before["objects"])
    target = tmp_path / "target"
    done = await asyncio.to_thread(run_cli, ["import", str(dump)], {"DATA_DIR": str(target)})
    assert done.returncode == 0, done.stderr
    assert "counts and checksums verified" in done.stdout
    async with opened_stores(make_settings(data_dir=target)) as stores:
        after = await contents(stores, build_object_storage(make_settings(data_dir=target)))
    assert after == before  # document by document, object by object

    again = await asyncio.to_thread(run_cli, ["import", str(dump)], {"DATA_DIR": str(target)})
    assert again.returncode == 2
    assert "refusing to import: the configured store is not empty" in again.stderr


@pytest.mark.mongo
@pytest.mark.skipif(not os.environ.get("MONGO_URI"),
                    reason="MONGO_URI is not set: no real MongoDB to run against")
async def test_export_then_import_into_mongodb_and_s3_is_equal(
    make_settings: Any, tmp_path: Path, s3_proc: S3Server
) -> None:
    before, dump = await exported(make_settings, tmp_path, jobs=True)
    settings = make_settings(
        mongo_uri=os.environ["MONGO_URI"], mongo_db=f"roomcast_test_{uuid4().hex[:12]}",
        s3_endpoint=s3_proc.endpoint, s3_access_key=s3_proc.access_key,
        s3_secret_key=s3_proc.secret_key, s3_bucket=f"rc-{uuid4().hex[:12]}")
    objects = build_object_storage(settings)
    async with opened_stores(settings) as stores:
        try:
            await import_store(stores, objects, dump)
            after = await contents(stores, objects)
        finally:
            await stores.db.drop()
    assert after == before


def _tamper(dump: Path, change: str) -> None:
    manifest_path = dump / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if change == "newer schema":
        manifest["schema_version"] = SCHEMA_VERSION + 1
        manifest_path.write_text(json.dumps(manifest))
    else:
        users = dump / manifest["collections"]["users"]["file"]
        data = bytearray(users.read_bytes())
        data[-2] ^= 0x01
        users.write_bytes(bytes(data))


@pytest.mark.parametrize(("change", "message"), [
    ("newer schema", f"newer than this Roomcast's {SCHEMA_VERSION}: import it with the "
                     "Roomcast version that made it"),
    ("changed file", "collections/users.bson does not match the manifest"),
])
async def test_an_import_that_cannot_be_trusted_is_refused_before_loading_anything(
    make_settings: Any, tmp_path: Path, change: str, message: str
) -> None:
    _, dump = await exported(make_settings, tmp_path)
    await asyncio.to_thread(_tamper, dump, change)
    with pytest.raises(DumpRefused, match=message):
        read_manifest(dump)
    target = make_settings(data_dir=tmp_path / "target")
    with pytest.raises(DumpRefused, match=message):
        await import_command(target, dump)
    async with opened_stores(target) as stores:
        assert await stores.db.list_collection_names() == []  # nothing was loaded


async def test_export_refuses_a_directory_that_is_not_empty(make_settings: Any,
                                                            tmp_path: Path) -> None:
    _, dump = await exported(make_settings, tmp_path)
    with pytest.raises(DumpRefused, match="is not empty: export into a new directory"):
        await export_command(make_settings(data_dir=tmp_path / "source"), dump)


async def _old_documents(settings: Any) -> None:
    """Documents as a Roomcast before schema versions wrote them: no `_v`."""
    async with opened_stores(settings) as stores:
        await stores.db["users"].insert_many([{"_id": "u1", "email": "a@x"},
                                              {"_id": "u2", "email": "b@x"}])
        await stores.db["tasks"].insert_one({"_id": "t1", "title": "T"})


async def test_migrate_dry_run_shows_and_migrate_applies_once(make_settings: Any,
                                                              tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path / "data")
    await _old_documents(settings)
    env = {"DATA_DIR": str(settings.data_dir)}
    dry = await asyncio.to_thread(run_cli, ["migrate", "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "schema version 0 -> 1 (dry run: nothing changed)",
        "  1 stamp the documents written before schema versions existed: users: would change "
        "2 documents",
        "  1 stamp the documents written before schema versions existed: tasks: would change "
        "1 documents",
    ]
    async with opened_stores(settings) as stores:
        assert await stores.db["users"].count_documents({"_v": {"$exists": True}}) == 0
    assert "users: changed 2 documents" in await migrate_command(settings, dry_run=False)
    again = await migrate_command(settings, dry_run=False)
    assert again.splitlines() == ["schema version 1 -> 1", "  nothing to change"]
    async with opened_stores(settings) as stores:
        assert await stores.db["users"].count_documents({"_v": 1}) == 2


async def test_a_store_from_a_newer_roomcast_is_refused(make_settings: Any,
                                                        tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path / "data")
    async with opened_stores(settings) as stores:
        await stores.db["_meta"].insert_one({"_id": "schema", "version": SCHEMA_VERSION + 1})
    message = (f"the store is at schema version {SCHEMA_VERSION + 1}, newer than this "
               f"Roomcast's {SCHEMA_VERSION}")
    with pytest.raises(ConfigError, match=message):
        await migrate_command(settings, dry_run=True)
    refused = await asyncio.to_thread(run_cli, ["serve", "--port", "0"],
                                      {"DATA_DIR": str(settings.data_dir)})
    assert refused.returncode != 0 and message in refused.stdout + refused.stderr

