"""The document store raises Roomcast's errors, never PyMongo's: translated once, in
core/store/collection.py, the same for MongoDB's driver and the embedded store."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson.errors import InvalidDocument
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteError,
    WTimeoutError,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from api.errors import EXCEPTION_HANDLERS
from api.middleware import ErrorEnvelopeMiddleware
from core.errors import (
    DuplicateKey,
    PartialWrite,
    ServiceUnavailable,
    StoreFailed,
    StoreNotWritable,
    StoreUnavailable,
)
from core.store.collection import Database
from core.store.embedded import journal as journal_module
from core.store.errors import translate
from tests.support.embedded import embedded_database
from tests.support.services import free_port


@pytest.mark.parametrize("error", [
    ServerSelectionTimeoutError("no servers found"), AutoReconnect("connection reset"),
    NetworkTimeout("timed out"), NotPrimaryError("not primary"),
    ExecutionTimeout("operation exceeded time limit", 50),
    WTimeoutError("waiting for replication timed out", 64),
    OperationFailure("an election", 189, {"errorLabels": ["RetryableWriteError"]}),
], ids=lambda e: type(e).__name__)
def test_outages_are_unavailable(error: PyMongoError) -> None:
    translated = translate(error)
    assert type(translated) is StoreUnavailable
    assert (translated.code, translated.http_status) == ("store_unavailable", 503)


@pytest.mark.parametrize("error", [
    OperationFailure("unknown operator: $bogus", 2), WriteError("document failed validation", 121),
    DocumentTooLarge("BSON document too large"), InvalidDocument("cannot encode object"),
], ids=lambda e: type(e).__name__)
def test_what_a_retry_repeats_is_a_failure(error: Exception) -> None:
    translated = translate(error)
    assert type(translated) is StoreFailed
    assert (translated.code, translated.http_status) == ("internal", 500)
    assert translated.message == "internal error"  # what any edge may answer
    assert str(error) in str(translated)  # for the log


def test_a_duplicate_key_is_a_failure_not_an_outage() -> None:
    translated = translate(DuplicateKeyError("E11000 duplicate key error", 11000))
    assert isinstance(translated, DuplicateKey) and isinstance(translated, StoreFailed)
    assert not isinstance(translated, StoreUnavailable | ServiceUnavailable)


def test_a_partial_write_says_which_documents_failed_and_why() -> None:
    error = BulkWriteError({"writeErrors": [
        {"index": 1, "code": 11000, "errmsg": "E11000 duplicate key"},
        {"index": 3, "code": 121, "errmsg": "document failed validation"},
    ]})
    translated = translate(error)
    assert isinstance(translated, PartialWrite)
    assert sorted(translated.failed) == [1, 3]
    assert type(translated.failed[1]) is DuplicateKey
    assert type(translated.failed[3]) is StoreFailed
    assert "validation" in str(translated.failed[3])


# The embedded store: mongomock raises PyMongo's errors, and they come out as ours.


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Database]:
    db = embedded_database(tmp_path)
    yield db
    await db.drop()


async def test_embedded_duplicate_key_and_partial_write(embedded: Database) -> None:
    things = embedded["things"]
    await things.create_index([("email", ASCENDING)], unique=True)
    await things.insert_one({"_id": "a", "email": "a@x"})
    with pytest.raises(DuplicateKey) as caught:
        await things.insert_one({"_id": "b", "email": "a@x"})
    assert isinstance(caught.value.__cause__, DuplicateKeyError)  # the log shows both
    with pytest.raises(PartialWrite) as partial:
        await things.insert_many([{"_id": "c", "email": "c@x"}, {"_id": "a", "email": "z@x"},
                                  {"_id": "d", "email": "d@x"}], ordered=False)
    assert list(partial.value.failed) == [1]
    assert isinstance(partial.value.failed[1], DuplicateKey)
    assert sorted([doc["_id"] async for doc in things.find({})]) == ["a", "c", "d"]


async def test_embedded_bad_query_and_update_are_failures(embedded: Database) -> None:
    things = embedded["things"]
    await things.insert_one({"_id": "a", "n": 1})
    with pytest.raises(StoreFailed):
        await things.update_one({"_id": "a"}, {"$bogus": {"n": 2}})
    with pytest.raises(StoreFailed):
        [doc async for doc in things.find({"n": {"$bogus": 1}})]
    with pytest.raises(StoreFailed):  # not BSON: refused before it is stored
        await things.insert_one({"_id": "b", "when": object()})
    assert [doc["_id"] async for doc in things.find({})] == ["a"]


async def test_embedded_full_disk_is_unavailable(
    embedded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_write = os.write
    monkeypatch.setattr(journal_module.os, "write", full)
    with pytest.raises(StoreUnavailable) as caught:
        await embedded["things"].insert_one({"_id": "refused"})
    with pytest.raises(StoreUnavailable):
        await embedded.ping()
    monkeypatch.setattr(journal_module.os, "write", real_write)
    # Answered as it always was: service_unavailable (docs/operations.md).
    assert isinstance(caught.value, StoreNotWritable)
    assert caught.value.code == "service_unavailable"


# MongoDB's driver, against a port nothing listens on: a real ServerSelectionTimeoutError.


@pytest.fixture
async def unreachable() -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        serverSelectionTimeoutMS=50, connectTimeoutMS=50)
    yield Database(client["roomcast"])
    await client.close()


async def test_mongodb_out_of_reach_is_unavailable_on_every_kind_of_call(
    unreachable: Database,
) -> None:
    things = unreachable["things"]
    calls = [things.find_one({"_id": "a"}), things.insert_one({"_id": "a"}),
             things.update_one({"_id": "a"}, {"$set": {"n": 1}}), unreachable.ping()]
    for call in calls:
        with pytest.raises(StoreUnavailable) as caught:
            await call
        assert isinstance(caught.value.__cause__, ServerSelectionTimeoutError)
    with pytest.raises(StoreUnavailable):  # a cursor fails at its first iteration
        [doc async for doc in things.find({}).sort("_id").limit(2)]


# The REST edge answers the store's errors with the codes it always has.


async def _raise(request: Request) -> Any:
    raise {"down": StoreUnavailable(), "refused": DuplicateKey("E11000 dup key: a@x"),
           "disk": StoreNotWritable()}[request.path_params["what"]]


async def test_rest_codes_of_the_store_errors() -> None:
    app = Starlette(routes=[Route("/{what}", _raise)], exception_handlers=EXCEPTION_HANDLERS)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        down, refused, disk = [(await http.get(f"/{what}"))
                               for what in ("down", "refused", "disk")]
    assert (down.status_code, down.json()["error"]["code"]) == (503, "store_unavailable")
    assert (refused.status_code, refused.json()["error"]) == (500, {
        "code": "internal", "message": "internal error", "details": None, "request_id": None})
    assert (disk.status_code, disk.json()["error"]["code"]) == (503, "service_unavailable")


async def test_rest_codes_of_store_errors_raised_outside_the_routes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Raised in a middleware (before the app's handlers): the envelope middleware answers,
    and logs a refused write with its traceback, as the app's handler does."""

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise {"/down": StoreUnavailable(), "/refused": DuplicateKey("E11000 dup key: a@x")}[
            scope["path"]]

    transport = httpx.ASGITransport(app=ErrorEnvelopeMiddleware(failing))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        down, refused = [await http.get(path) for path in ("/down", "/refused")]
    assert (down.status_code, down.json()["error"]["code"]) == (503, "store_unavailable")
    assert (refused.status_code, refused.json()["error"]["code"]) == (500, "internal")
    assert refused.json()["error"]["message"] == "internal error"
    logged = [r for r in caplog.records if r.message == "document store error"]
    assert logged and logged[0].exc_info and "a@x" in str(logged[0].exc_info[1])
