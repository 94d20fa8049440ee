"""A document stored by the embedded store's own insert (`TrackedCollection._insert_plain`)
is stored as mongomock stores it: on random and odd documents (aware datetimes at any offset
and microsecond, nested dicts and lists, tuples, big integers, keys with `$`, `.` or the null
character, subclasses of dict and str, bytes, types BSON refuses, an `_id` that is None, a
number, a dict, a str subclass or repeated, a unique index), the same stored documents with the
same `repr`, the same ids returned, the same error raised, and the caller's documents left as
mongomock leaves them."""

from __future__ import annotations

import copy
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any

import mongomock
import pytest
from bson.int64 import Int64
from hypothesis import given, settings
from hypothesis import strategies as st

from core.store.embedded.mongomock_collection import (
    TrackedCollection,
    new_database,
    stored_copy,
)


class Named(str):
    """A str subclass: left to mongomock."""


class Opaque:
    """A type BSON cannot encode (one object, whatever copies it)."""

    def __repr__(self) -> str:
        return "Opaque()"

    def __deepcopy__(self, memo: Any) -> Opaque:
        return self


OPAQUE = Opaque()


class Plain(dict):  # type: ignore[type-arg]
    """A dict subclass: left to mongomock."""


def aware(offset_minutes: int) -> Any:
    return st.builds(lambda d: d.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))),
                     st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))


scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=6), st.datetimes(min_value=datetime(1971, 1, 1)),
    st.sampled_from([-840, -330, 0, 60, 345]).flatmap(aware))
odd_scalar = st.one_of(
    st.integers(2**63, 2**70), st.just(b"raw"), st.just(Int64(5)), st.just(Named("x")),
    st.just(float("nan")), st.just(OPAQUE), st.just("\ud800"), st.just({1, 2}))
key = st.one_of(st.sampled_from(["a", "b", "when", "text"]), st.text(max_size=3),
                st.sampled_from(["$set", "a.b", "x\0y", ""]))


def values(leaf: Any) -> Any:
    return st.recursive(
        leaf,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner),
                                st.dictionaries(key, inner, max_size=3)),
        max_leaves=6)


plain_doc = st.dictionaries(st.sampled_from(["a", "b", "when", "text"]), values(scalar),
                            max_size=4)
odd_doc = st.dictionaries(key, values(st.one_of(scalar, odd_scalar)), max_size=4)
ids = st.one_of(st.sampled_from(["d1", "d2", "d3"]), st.just(Named("d1")), st.just(7),
                st.just({"k": 1}), st.just(None))


def with_id(doc: dict[str, Any], doc_id: Any, odd: int) -> Any:
    """Every document has an `_id`: one without is given a new ObjectId by mongomock on
    either path, which two runs could not compare (the own path leaves such a document to
    mongomock: `_insert_plain` takes only a string `_id`)."""
    doc = {**doc, "_id": doc_id}
    if odd == 1:
        return Plain(doc)
    if odd == 2:
        return OrderedDict(doc)
    if odd == 3:
        doc[5] = "a key that is not a string"
    return doc


documents = st.lists(
    st.builds(with_id, st.one_of(plain_doc, plain_doc, odd_doc), ids,
              st.sampled_from([0, 0, 0, 0, 1, 2, 3])),
    min_size=1, max_size=5)


def outcome(insert: Any) -> tuple[str, str]:
    try:
        return "ok", repr(insert())
    except Exception as exc:  # the error's type and text are what is compared
        return type(exc).__name__, str(exc)


def stored(collection: Any) -> str:
    return repr(list(collection._store._documents.items()))


def pair(unique: bool) -> tuple[Any, Any]:
    ours = TrackedCollection(new_database("ours"), "c")
    theirs = mongomock.MongoClient(tz_aware=True)["theirs"]["c"]
    if unique:
        ours.create_index("a", unique=True)
        theirs.create_index("a", unique=True)
    return ours, theirs


@pytest.mark.parametrize("unique", [False, True])
def test_inserts_store_what_mongomock_stores(unique: bool, long_form: bool) -> None:
    @settings(max_examples=3000 if long_form else 400, deadline=None, database=None)
    @given(documents, st.booleans())
    def check(docs: list[Any], many: bool) -> None:
        ours, theirs = pair(unique)
        mine, yours = copy.deepcopy(docs), copy.deepcopy(docs)
        if many:
            got = outcome(lambda: ours.insert_many(mine, ordered=False).inserted_ids)
            want = outcome(lambda: theirs.insert_many(yours, ordered=False).inserted_ids)
            assert got == want
        else:
            for a, b in zip(mine, yours, strict=True):
                assert outcome(lambda a=a: ours.insert_one(a).inserted_id) == outcome(
                    lambda b=b: theirs.insert_one(b).inserted_id)
        assert stored(ours) == stored(theirs)
        assert repr(mine) == repr(yours)  # the callers' documents: touched alike

    check()


def test_plain_documents_take_the_own_path() -> None:
    """The documents a meeting stay and a message are made of are copied by `stored_copy`
    (not left to mongomock), and an odd one is not."""
    when = datetime(2026, 12, 6, 17, 1, 2, 345678, tzinfo=timezone(timedelta(hours=2)))
    stay = {"_id": "s1", "meeting_id": "m1", "sid": "x", "joined_at": when, "left_at": None,
            "_v": 1, "tags": ("a", {"b": [1, 2.5, True]})}
    copied = stored_copy(stay)
    assert copied == {**stay, "joined_at": datetime(2026, 12, 6, 15, 1, 2, 345000),
                      "tags": ["a", {"b": [1, 2.5, True]}]}
    assert copied["tags"][1] is not stay["tags"][1]
    for odd in (b"x", Int64(1), Named("n"), Plain(a=1), {"k": {5: 1}}, {"k\0": 1}):
        assert type(stored_copy({"v": odd})).__name__ == "_Unsure", odd


def test_a_plain_insert_is_journaled(tmp_path: Any) -> None:
    """What the engine journals is the stored document (noted in `changed`)."""
    ours = TrackedCollection(new_database("ours"), "c")
    ours.changed = {}
    ours.insert_many([{"_id": "a", "n": 1}, {"_id": "b", "n": 2}])
    assert list(ours.changed) == ["a", "b"]
    assert ours.document("b") == {"_id": "b", "n": 2}
