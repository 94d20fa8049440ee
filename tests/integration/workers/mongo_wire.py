"""A small MongoDB wire-protocol server over mongomock, so several Roomcast processes can
share one document store in tests on a machine without MongoDB.

It speaks OP_MSG (and OP_QUERY for the driver's first handshake) and answers the commands
Roomcast's repositories send: find, insert, update, delete, findAndModify, aggregate, count,
distinct and index management. One asyncio loop serves every connection, so each command is
atomic, as MongoDB's single-document operations are.

    python -m tests.integration.workers.mongo_wire --port 27999
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
from datetime import UTC, datetime
from typing import Any

import bson
import mongomock
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from pymongo import ReturnDocument

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CODEC = CodecOptions(tz_aware=True)
IGNORED = ("lsid", "$readPreference", "$clusterTime", "txnNumber", "apiVersion")

client: Any = mongomock.MongoClient(tz_aware=True)


def hello() -> dict[str, Any]:
    return {
        "ismaster": True, "isWritablePrimary": True, "helloOk": True,
        "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
        "maxWriteBatchSize": 100_000, "localTime": datetime.now(UTC),
        "logicalSessionTimeoutMinutes": 30, "connectionId": 1, "minWireVersion": 0,
        "maxWireVersion": 17, "readOnly": False, "ok": 1.0,
    }


def cursor(db: str, coll: str, docs: list[Any]) -> dict[str, Any]:
    return {"cursor": {"firstBatch": docs, "id": Int64(0), "ns": f"{db}.{coll}"}, "ok": 1.0}


def handle(cmd: dict[str, Any], seqs: dict[str, list[Any]]) -> dict[str, Any]:
    name = next(iter(cmd))
    db_name = cmd.get("$db", "admin")
    db = client[db_name]
    arg = cmd[name]
    if name.lower() in ("hello", "ismaster"):
        return hello()
    if name in ("ping", "endSessions", "killCursors"):
        return {"ok": 1.0}
    if name == "buildInfo" or name == "buildinfo":
        return {"version": "6.0.0", "versionArray": [6, 0, 0, 0], "ok": 1.0}
    coll = db[arg] if isinstance(arg, str) else None
    try:
        return COMMANDS[name](db, coll, cmd, seqs, db_name)
    except KeyError:
        return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59}
    except mongomock.DuplicateKeyError as exc:
        return {"ok": 0.0, "errmsg": str(exc), "code": 11000}
    except Exception as exc:  # report, as a server would, instead of dropping the socket
        return {"ok": 0.0, "errmsg": f"{type(exc).__name__}: {exc}", "code": 8}


def _insert(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> dict[str, Any]:
    docs = cmd.get("documents") or seqs.get("documents", [])
    errors, n = [], 0
    for index, doc in enumerate(docs):
        try:
            coll.insert_one(doc)
            n += 1
        except mongomock.DuplicateKeyError as exc:
            errors.append({"index": index, "code": 11000, "errmsg": str(exc)})
            if cmd.get("ordered", True):
                break
    reply: dict[str, Any] = {"n": n, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


def _find(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, name: str) -> dict[str, Any]:
    found = coll.find(cmd.get("filter", {}), cmd.get("projection"))
    if cmd.get("sort"):
        found = found.sort(list(cmd["sort"].items()))
    if cmd.get("skip"):
        found = found.skip(cmd["skip"])
    if cmd.get("limit"):
        found = found.limit(abs(cmd["limit"]))
    return cursor(name, coll.name, list(found))


def _is_operator_update(update: Any) -> bool:
    return isinstance(update, dict) and bool(update) and next(iter(update)).startswith("$")


def _update(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> dict[str, Any]:
    n = modified = 0
    upserted = []
    for index, spec in enumerate(cmd.get("updates") or seqs.get("updates", [])):
        q, u, upsert = spec["q"], spec["u"], spec.get("upsert", False)
        if _is_operator_update(u):
            method = coll.update_many if spec.get("multi") else coll.update_one
            result = method(q, u, upsert=upsert)
        else:
            result = coll.replace_one(q, u, upsert=upsert)
        n += result.matched_count
        modified += result.modified_count
        if result.upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": result.upserted_id})
    reply: dict[str, Any] = {"n": n, "nModified": modified, "ok": 1.0}
    if upserted:
        reply["upserted"] = upserted
    return reply


def _delete(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> dict[str, Any]:
    n = 0
    for spec in cmd.get("deletes") or seqs.get("deletes", []):
        method = coll.delete_one if spec.get("limit") == 1 else coll.delete_many
        n += method(spec["q"]).deleted_count
    return {"n": n, "ok": 1.0}


def _find_and_modify(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> Any:
    query, sort = cmd.get("query", {}), list((cmd.get("sort") or {}).items()) or None
    fields = cmd.get("fields")
    if cmd.get("remove"):
        value = coll.find_one_and_delete(query, projection=fields, sort=sort)
        return {"value": value, "lastErrorObject": {"n": int(value is not None)}, "ok": 1.0}
    before = coll.find_one(query, sort=sort) is not None
    update = cmd.get("update", {})
    returned = ReturnDocument.AFTER if cmd.get("new") else ReturnDocument.BEFORE
    method = coll.find_one_and_update if _is_operator_update(update) else (
        coll.find_one_and_replace)
    value = method(query, update, projection=fields, sort=sort,
                   upsert=cmd.get("upsert", False), return_document=returned)
    changed = before or cmd.get("upsert", False)
    return {"value": value, "ok": 1.0,
            "lastErrorObject": {"n": int(changed), "updatedExisting": before}}


def _aggregate(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, name: str) -> Any:
    return cursor(name, coll.name, list(coll.aggregate(cmd["pipeline"])))


def _count(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> Any:
    return {"n": coll.count_documents(cmd.get("query") or {}), "ok": 1.0}


def _distinct(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> Any:
    return {"values": coll.distinct(cmd["key"], cmd.get("query") or {}), "ok": 1.0}


def _create_indexes(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> Any:
    for spec in cmd["indexes"]:
        options = {k: v for k, v in spec.items() if k in ("name", "unique", "sparse")}
        # An index kind the stand-in lacks (TTL, partial) is left out: tests need not have it.
        with contextlib.suppress(NotImplementedError):
            coll.create_index(list(spec["key"].items()), **options)
    return {"ok": 1.0}


def _list_indexes(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, name: str) -> Any:
    infos = [{"name": k, "key": dict(v["key"]), "v": 2}
             for k, v in coll.index_information().items()]
    return cursor(name, coll.name, infos)


def _drop(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, _: str) -> Any:
    coll.drop()
    return {"ok": 1.0}


def _list_collections(db: Any, coll: Any, cmd: dict[str, Any], seqs: Any, name: str) -> Any:
    docs = [{"name": c, "type": "collection"} for c in db.list_collection_names()]
    return cursor(name, "$cmd.listCollections", docs)


COMMANDS = {
    "insert": _insert, "find": _find, "update": _update, "delete": _delete,
    "findAndModify": _find_and_modify, "findandmodify": _find_and_modify,
    "aggregate": _aggregate, "count": _count, "distinct": _distinct,
    "createIndexes": _create_indexes, "listIndexes": _list_indexes, "drop": _drop,
    "dropIndexes": lambda *a: {"ok": 1.0}, "listCollections": _list_collections,
    "create": lambda *a: {"ok": 1.0},
}


def parse_msg(body: bytes) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    flags = struct.unpack_from("<I", body)[0]
    end = len(body) - (4 if flags & 1 else 0)
    pos, cmd, seqs = 4, {}, {}
    while pos < end:
        kind = body[pos]
        pos += 1
        if kind == 0:
            size = struct.unpack_from("<i", body, pos)[0]
            cmd = bson.decode(body[pos:pos + size], codec_options=CODEC)
            pos += size
        else:
            size = struct.unpack_from("<i", body, pos)[0]
            section = body[pos + 4:pos + size]
            ident, _, docs = section.partition(b"\x00")
            seqs[ident.decode()] = list(bson.decode_all(docs, codec_options=CODEC))
            pos += size
    return cmd, seqs


def reply_msg(request_id: int, doc: dict[str, Any]) -> bytes:
    payload = struct.pack("<I", 0) + b"\x00" + bson.encode(doc)
    return struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_MSG) + payload


def reply_query(request_id: int, doc: dict[str, Any]) -> bytes:
    payload = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(doc)
    return struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_REPLY) + payload


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            header = await reader.readexactly(16)
            length, request_id, _, opcode = struct.unpack("<iiii", header)
            body = await reader.readexactly(length - 16)
            if opcode == OP_MSG:
                cmd, seqs = parse_msg(body)
                for key in IGNORED:
                    cmd.pop(key, None)
                writer.write(reply_msg(request_id, handle(cmd, seqs)))
            elif opcode == OP_QUERY:
                collection_end = body.index(b"\x00", 4)
                query_start = collection_end + 1 + 8
                size = struct.unpack_from("<i", body, query_start)[0]
                query = bson.decode(body[query_start:query_start + size], codec_options=CODEC)
                writer.write(reply_query(request_id, handle(query, {})))
            else:
                break
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
