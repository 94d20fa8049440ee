"""What core/store/embedded/mongomock_collection.py takes from mongomock's internals still holds:
every write notes the documents it changed, `_id` queries take the direct path, and expiry is
left to the engine. A mongomock upgrade that moves these fails here first."""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import mongomock.collection as mongomock_collection_module
import mongomock.helpers as mongomock_helpers
import mongomock.store as mongomock_store
import pytest
from pymongo import ReturnDocument

from core.store.embedded.mongomock_collection import TrackedCollection, new_database


def test_the_release_it_was_written_for() -> None:
    assert version("mongomock").startswith("4.3.")


@pytest.fixture
def things() -> TrackedCollection:
    collection = TrackedCollection(new_database("canary"), "things")
    collection.insert_many([{"_id": i, "n": i, "tags": []} for i in range(5)])
    return collection


WRITES: dict[str, tuple[Callable[[TrackedCollection], Any], set[Any]]] = {
    "insert_one": (lambda c: c.insert_one({"_id": 9}), {9}),
    "insert_many": (lambda c: c.insert_many([{"_id": 7}, {"_id": 8}]), {7, 8}),
    "update_one": (lambda c: c.update_one({"n": 2}, {"$set": {"x": 1}}), {2}),
    "update_many": (lambda c: c.update_many({"n": {"$gte": 3}}, {"$inc": {"n": 1}}), {3, 4}),
    "upsert": (lambda c: c.update_one({"_id": 6}, {"$set": {"n": 6}}, upsert=True), {6}),
    "replace_one": (lambda c: c.replace_one({"_id": 1}, {"whole": True}), {1}),
    "replace_upsert": (lambda c: c.replace_one({"_id": 5}, {"n": 5}, upsert=True), {5}),
    "find_one_and_update": (lambda c: c.find_one_and_update(
        {"n": 0}, {"$push": {"tags": "a"}}, return_document=ReturnDocument.AFTER), {0}),
    "delete_one": (lambda c: c.delete_one({"n": 1}), {1}),
    "delete_many": (lambda c: c.delete_many({"n": {"$lt": 2}}), {0, 1}),
    "find_one_and_delete": (lambda c: c.find_one_and_delete({"_id": 3}), {3}),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_every_write_notes_what_it_changed(things: TrackedCollection, name: str) -> None:
    write, expected = WRITES[name]
    before = {i: copy.deepcopy(things.document(i)) for i in things.ids()}
    things.changed = {}
    write(things)
    noted = set(things.changed)
    after = {i: things.document(i) for i in things.ids()}
    really_changed = {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}
    assert really_changed == expected
    assert noted >= really_changed


def test_id_queries_are_looked_up_not_scanned(things: TrackedCollection,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(self: Any, filter: Any) -> Any:  # noqa: A002
        raise AssertionError(f"scanned for {filter}")

    monkeypatch.setattr(TrackedCollection.__mro__[1], "_iter_documents", no_scan)
    assert things.find_one({"_id": 2})["n"] == 2
    assert [d["_id"] for d in things.find({"_id": {"$in": [4, 1, 99]}}).sort("_id")] == [1, 4]
    assert things.find_one({"_id": 2, "n": 3}) is None  # the rest of the filter still applies
    assert things.update_one({"_id": 3}, {"$set": {"n": 30}}).modified_count == 1


def test_expiry_is_left_to_the_engine(things: TrackedCollection) -> None:
    things.create_index([("at", 1)], expireAfterSeconds=0)
    things.insert_one({"_id": "old", "at": datetime(2000, 1, 1, tzinfo=UTC)})
    assert things.find_one({"_id": "old"}) is not None  # mongomock would have dropped it
    assert things.index_information()["at_1"]["expireAfterSeconds"] == 0


# What `TrackedCollection._insert_plain` does in mongomock's stead: these functions decide how
# mongomock checks and stores a document (tests/unit/store/test_fast_insert.py compares the two);
# and `CollectionStore`, whose `_documents` `_plain_documents` makes a dict (it must use it as a
# mapping kept in insertion order, nothing of OrderedDict's own).
INSERT_SOURCES = {
    "CollectionStore": (mongomock_store.CollectionStore, "d58ef80434dcdfe4"),
    "Collection._insert": (mongomock_collection_module.Collection._insert, "dde5bac79a59d984"),
    "patch_datetime_awareness_in_document": (
        mongomock_helpers.patch_datetime_awareness_in_document, "f8a38f3bf6b13a9d"),
    "_validate_data_fields": (mongomock_collection_module._validate_data_fields,
                              "107cf717a38c5bb7"),
    "_recursive_key_check_null_character": (
        mongomock_collection_module._recursive_key_check_null_character, "3167ddb29e53af93"),
}


@pytest.mark.parametrize("name", list(INSERT_SOURCES))
def test_the_insert_it_stands_in_for_is_unchanged(name: str) -> None:
    function, expected = INSERT_SOURCES[name]
    found = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert found == expected, (
        f"mongomock's {name} changed (source hash {found}, was {expected}): re-check "
        "TrackedCollection._insert_plain, stored_copy and _plain_documents in "
        "core/store/embedded/mongomock_collection.py against it, then update the hash")


def test_documents_are_kept_in_a_dict_in_insertion_order(things: TrackedCollection) -> None:
    assert type(things._store._documents) is dict
    things.delete_one({"_id": 1})
    things.insert_one({"_id": 1})
    assert [d["_id"] for d in things.find({})] == [0, 2, 3, 4, 1]
    things.drop()
    assert type(things._store._documents) is dict and things.count_documents({}) == 0
