"""`roomcast export DIR` and `roomcast import DIR`: every collection and every stored object of
the configured store (embedded, or MongoDB + S3) to a directory and back. The same pair is the
backup and the restore, and the way from the embedded default to MongoDB.

A dump holds `manifest.json` (format, schema version, each collection's document count and
SHA-256, each object's size and SHA-256), `collections/NAME.bson` (the documents in `_id`
order, one BSON document after another, as mongodump writes them) and `objects/KEY`.
An import checks every file against the manifest before it loads anything, loads only into
an empty store, then reads everything back and checks counts and checksums again.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions

from core.errors import ConfigError
from core.ids import utcnow
from core.objects import ObjectStorage
from core.store.collection import Database
from core.store.schema import META_COLLECTION, SCHEMA_VERSION
from core.store.stores import Stores

FORMAT = "roomcast-export"
FORMAT_VERSION = 1
BATCH = 1000
CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


class DumpRefused(ConfigError):
    code = "dump_refused"


@dataclass(frozen=True)
class Summary:
    collections: dict[str, int]
    objects: int
    object_bytes: int

    def line(self) -> str:
        documents = sum(self.collections.values())
        return (f"{documents} documents in {len(self.collections)} collections, "
                f"{self.objects} objects ({self.object_bytes} bytes)")


async def _documents(db: Database, name: str) -> AsyncIterator[bytes]:
    async for doc in db[name].find({}).sort([("_id", 1)]):
        yield bson.encode(doc, codec_options=CODEC)


def _prepare(target: Path) -> None:
    if target.exists() and any(target.iterdir()):
        raise DumpRefused(f"{target} is not empty: export into a new directory")
    (target / "collections").mkdir(parents=True, exist_ok=True)


async def export_store(stores: Stores, objects: ObjectStorage, target: Path) -> Summary:
    _prepare(target)
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "schema_version": await stores.migrations().stored_version() or SCHEMA_VERSION,
        "created_at": utcnow().isoformat(), "collections": {}, "objects": {},
    }
    for name in sorted(await stores.db.list_collection_names()):
        digest, count = hashlib.sha256(), 0
        with (target / "collections" / f"{name}.bson").open("wb") as out:
            async for encoded in _documents(stores.db, name):
                out.write(encoded)
                digest.update(encoded)
                count += 1
        manifest["collections"][name] = {"file": f"collections/{name}.bson",
                                          "documents": count, "sha256": digest.hexdigest()}
    for key in await objects.keys():
        path = target / "objects" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as out:
            async for chunk in objects.open_stream(key):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        manifest["objects"][key] = {"size": size, "sha256": digest.hexdigest()}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return _summary(manifest)


def _summary(manifest: dict[str, Any]) -> Summary:
    return Summary({n: c["documents"] for n, c in manifest["collections"].items()},
                   len(manifest["objects"]),
                   sum(o["size"] for o in manifest["objects"].values()))


def read_manifest(source: Path) -> dict[str, Any]:
    """The dump's manifest, once every file it names matches it; DumpRefused otherwise."""
    try:
        manifest: dict[str, Any] = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise DumpRefused(f"{source} holds no readable manifest.json ({exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise DumpRefused(f"{source} is not a Roomcast export this version reads "
                          f"(format {manifest.get('format')!r} {manifest.get('format_version')})")
    schema = manifest.get("schema_version", 0)
    if schema > SCHEMA_VERSION:
        raise DumpRefused(
            f"{source} was exported at schema version {schema}, newer than this Roomcast's "
            f"{SCHEMA_VERSION}: import it with the Roomcast version that made it, or a newer one")
    for name, entry in manifest["collections"].items():
        docs = _file_documents(source / entry["file"])
        digest = hashlib.sha256(b"".join(docs)).hexdigest()
        if len(docs) != entry["documents"] or digest != entry["sha256"]:
            raise DumpRefused(f"{entry['file']} does not match the manifest (collection {name}: "
                              f"{len(docs)} documents, checksum {digest[:12]}...): the dump is "
                              "damaged or was changed")
    for key, entry in manifest["objects"].items():
        data = _read(source / "objects" / key)
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise DumpRefused(f"object {key} does not match the manifest: the dump is damaged")
    return manifest


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DumpRefused(f"{path} cannot be read ({exc.strerror})") from None


def _file_documents(path: Path) -> list[bytes]:
    """The file's BSON documents, each as its own bytes."""
    data, docs, offset = _read(path), [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset:offset + 4], "little")
        if size < 5 or offset + size > len(data):
            raise DumpRefused(f"{path} is cut short at byte {offset}")
        docs.append(data[offset:offset + size])
        offset += size
    return docs


async def import_store(stores: Stores, objects: ObjectStorage, source: Path) -> Summary:
    manifest = read_manifest(source)
    for name in await stores.db.list_collection_names():
        # The schema record of a store that has started once is replaced by the dump's.
        if name != META_COLLECTION and await stores.db[name].count_documents({}):
            raise DumpRefused("the configured store is not empty (collection "
                              f"{name}): import loads into an empty store only")
    if await objects.keys():
        raise DumpRefused("the configured object storage is not empty: import loads into "
                          "empty storage only")
    await stores.db[META_COLLECTION].delete_many({})
    for name, entry in manifest["collections"].items():
        docs = [bson.decode(d, codec_options=CODEC)
                for d in _file_documents(source / entry["file"])]
        for start in range(0, len(docs), BATCH):
            await stores.db[name].insert_many(docs[start:start + BATCH])
    for key in manifest["objects"]:
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        await objects.put_bytes(key, _read(source / "objects" / key), content_type=kind)
    await verify(stores, objects, manifest)
    return _summary(manifest)


async def verify(stores: Stores, objects: ObjectStorage, manifest: dict[str, Any]) -> None:
    """Read back what was imported: the same documents and objects, byte for byte."""
    for name, entry in manifest["collections"].items():
        digest, count = hashlib.sha256(), 0
        async for encoded in _documents(stores.db, name):
            digest.update(encoded)
            count += 1
        if count != entry["documents"] or digest.hexdigest() != entry["sha256"]:
            raise DumpRefused(f"collection {name} reads back {count} documents that do not "
                              "match the dump: the store did not keep them as given")
    for key, entry in manifest["objects"].items():
        data = await objects.get_bytes(key)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise DumpRefused(f"object {key} reads back different from the dump")
