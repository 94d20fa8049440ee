"""The embedded store's plain test for equality, `$ne` and `$in` filters answers what
mongomock's `filter_applies` answers, on random documents and filters (including lists,
missing fields, None, bools against ints and bson's own number types), and a scan by it finds
the same documents in the same order. Conditions on a field inside a list of documents
(`members.user_id`): tests/unit/store/test_list_fields.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson.int64 import Int64
from hypothesis import given, settings
from hypothesis import strategies as st
from mongomock.filtering import filter_applies

from core.store.embedded.mongomock_collection import (
    TrackedCollection,
    new_database,
    simple_matcher,
)
from tests.unit.store import test_list_fields as list_fields

FIELDS = ["a", "b", "sid"]
plain = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, 1.0, 1.5]),
                  st.sampled_from(["", "x", "y"]))
value = st.one_of(plain, st.lists(plain, max_size=3), st.builds(Int64, st.integers(-2, 2)),
                  st.just(datetime(2026, 1, 1)), st.dictionaries(st.just("k"), plain, max_size=1),
                  st.just(b"x"))
documents = st.dictionaries(st.sampled_from(FIELDS), value, max_size=3)
condition = st.one_of(plain, st.builds(lambda vs: {"$in": vs}, st.lists(plain, max_size=4)),
                      st.builds(lambda v: {"$ne": v}, plain))
filters = st.dictionaries(st.sampled_from(FIELDS), condition, min_size=1, max_size=3)


@pytest.mark.parametrize("fields", ["top-level", "in lists"])
def test_it_answers_what_filter_applies_answers(long_form: bool, fields: str) -> None:
    """Fields in lists: `{"members.user_id": uid}` and its `$ne` (test_list_fields.py)."""
    shapes = ((filters, st.lists(documents, max_size=8)) if fields == "top-level"
              else (list_fields.filters, list_fields.documents))

    @settings(max_examples=5000 if long_form else 500, deadline=None, database=None)
    @given(*shapes)
    def check(query: dict[str, Any], docs: list[dict[str, Any]]) -> None:
        match = simple_matcher(query)
        assert match is not None
        for doc in docs:
            assert match(doc) == filter_applies(query, doc), (query, doc)

    check()


@pytest.mark.parametrize("query", [
    {}, {"a.b.c": 1}, {"a.0": 1}, {"a.-1": 1}, {"a.": 1}, {".b": 1}, {"a.$": 1},
    {"a.b": {"$in": [1]}}, {"a.b": {"$ne": Int64(1)}}, {"a": {"$ne": [1]}},
    {"$or": [{"a": 1}]}, {"a": {"$gt": 1}}, {"a": {"$in": [1], "$ne": 2}},
    {"a": {"$in": [Int64(1)]}}, {"a": Int64(1)}, {"a": {"$in": [{"k": 1}]}},
    {"a": datetime(2026, 1, 1)}, {"a": {"$in": "x"}},
])
def test_other_filters_are_left_to_mongomock(query: dict[str, Any]) -> None:
    assert simple_matcher(query) is None


def test_a_scan_by_it_finds_what_mongomock_finds_in_the_same_order() -> None:
    tracked = TrackedCollection(new_database("matcher"), "stays")
    plain_mongomock = new_database("plain")["stays"]
    docs = [{"_id": n, "sid": f"s{n % 7}", "left_at": None if n % 3 else n} for n in range(50)]
    tracked.insert_many([dict(d) for d in docs])
    plain_mongomock.insert_many([dict(d) for d in docs])
    for query in ({"left_at": None}, {"sid": {"$in": ["s1", "s4"]}, "left_at": None},
                  {"sid": "s2"}):
        assert list(tracked.find(query)) == list(plain_mongomock.find(query))
    tracked.update_many({"sid": {"$in": ["s1", "s4"]}, "left_at": None}, {"$set": {"left_at": -1}})
    assert tracked.count_documents({"left_at": -1}) == len(
        [d for d in docs if d["sid"] in ("s1", "s4") and d["left_at"] is None])


stored = st.one_of(value, st.lists(documents, max_size=2),
                   st.just(datetime(2026, 1, 1, 12, 30)),
                   st.dictionaries(st.just("at"), st.just(datetime(2026, 2, 3)), max_size=1))


@pytest.mark.parametrize("by_id", [False, True])
def test_find_one_answers_what_mongomock_answers(long_form: bool, by_id: bool) -> None:
    """The read a connect and a join make: same document (or None), equal and as deep a copy,
    datetimes made UTC-aware by the same tzinfo, for filters on any field or on `_id`."""

    @settings(max_examples=2000 if long_form else 200, deadline=None, database=None)
    @given(filters, st.lists(st.dictionaries(st.sampled_from(FIELDS), stored, max_size=3),
                             max_size=6), st.integers(0, 7))
    def check(query: dict[str, Any], docs: list[dict[str, Any]], pick: int) -> None:
        tracked = TrackedCollection(new_database("fast"), "rows")
        plain_mongomock = new_database("plain")["rows"]
        for n, doc in enumerate(docs):
            tracked.insert_one({"_id": f"d{n}", **doc})
            plain_mongomock.insert_one({"_id": f"d{n}", **doc})
        if by_id:  # mostly `_id` alone, the repositories' `get`
            query = {"_id": f"d{pick}", **(query if pick % 3 == 0 else {})}
        ours, theirs = tracked.find_one(query, None, sort=None), plain_mongomock.find_one(query)
        assert ours == theirs, (query, docs)
        assert repr(ours) == repr(theirs)
        if ours is not None:
            stored_doc = tracked._store._documents[ours["_id"]]
            ours["a"] = "changed"  # a copy: the stored document is untouched
            assert stored_doc.get("a") != "changed"

    check()


def test_find_one_with_a_projection_or_a_sort_is_mongomock_s() -> None:
    tracked = TrackedCollection(new_database("fast"), "rows")
    tracked.insert_many([{"_id": n, "a": n % 2, "b": -n} for n in range(6)])
    assert tracked.find_one({"a": 1}, {"b": 1}) == {"_id": 1, "b": -1}
    assert tracked.find_one({"a": 1}, sort=[("b", 1)]) == {"_id": 5, "a": 1, "b": -5}
    assert tracked.find_one({"a": 1}) == {"_id": 1, "a": 1, "b": -1}
    assert tracked.find_one({"_id": 4, "a": 1}) is None


def test_find_one_returns_datetimes_as_mongomock_does() -> None:
    doc = {"_id": "m", "at": datetime(2026, 1, 1, 9), "stays": [{"at": datetime(2026, 1, 2)}],
           "pair": (1, datetime(2026, 1, 3))}
    tracked = TrackedCollection(new_database("fast"), "rows")
    plain_mongomock = new_database("plain")["rows"]
    tracked.insert_one(dict(doc))
    plain_mongomock.insert_one(dict(doc))
    for query in ({"_id": "m"}, {"at": None}, {"_id": {"$in": ["m"]}}):
        assert repr(tracked.find_one(query)) == repr(plain_mongomock.find_one(query)), query


def test_find_one_as_the_repositories_call_it_takes_no_cursor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tracked = TrackedCollection(new_database("fast"), "rows")
    tracked.insert_many([{"_id": n, "a": n % 2} for n in range(4)])

    def no_cursor(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cursor was made")

    monkeypatch.setattr(TrackedCollection, "find", no_cursor)
    assert tracked.find_one({"_id": 3}, None, sort=None) == {"_id": 3, "a": 1}
    assert tracked.find_one({"a": 0}, projection=None) == {"_id": 0, "a": 0}
    with pytest.raises(AssertionError, match="a cursor was made"):
        tracked.find_one({"a": {"$gt": 0}})


members = st.lists(st.fixed_dictionaries({"user_id": st.sampled_from(["u1", "u2", "u3"]),
                                          "role": st.sampled_from(["head", "member"])}),
                   max_size=3)
id_conditions = st.dictionaries(
    st.sampled_from(["members.user_id", "a", "at"]),
    st.one_of(plain, st.sampled_from(["u1", "u2"]), st.just({"$gt": 0}),
              st.just(datetime(2026, 1, 1, tzinfo=UTC)),
              st.just({"$lt": datetime(2026, 6, 1, tzinfo=UTC)})), max_size=2)
projections = st.one_of(st.none(), st.just({}), st.just({"a": 1}), st.just({"members": 0}),
                        st.builds(lambda u: {"members": {"$elemMatch": {"user_id": u}}},
                                  st.sampled_from(["u1", "u2"])))


def test_find_one_by_id_answers_what_mongomock_answers(long_form: bool) -> None:
    """Any condition beside one `_id` (dotted fields, operators, aware datetimes) and any
    projection (the membership read's `$elemMatch` among them)."""

    @settings(max_examples=2000 if long_form else 200, deadline=None, database=None)
    @given(id_conditions, projections, members, st.one_of(plain, st.just(datetime(2026, 1, 1))),
           st.sampled_from([datetime(2026, 1, 1), datetime(2027, 1, 1)]))
    def check(conditions: dict[str, Any], projection: Any, team: list[dict[str, Any]],
              a: Any, at: datetime) -> None:
        doc = {"_id": "p", "members": team, "a": a, "at": at}
        tracked = TrackedCollection(new_database("fast"), "rows")
        plain_mongomock = new_database("plain")["rows"]
        tracked.insert_one(dict(doc))
        plain_mongomock.insert_one(dict(doc))
        query = {"_id": "p", **conditions}
        ours = tracked.find_one(query, projection, sort=None)
        theirs = plain_mongomock.find_one(query, projection)
        assert repr(ours) == repr(theirs), (query, projection, doc)

    check()


def test_find_one_by_a_string_id_in_a_write_notes_the_document() -> None:
    # find_one_and_update's read: the document it found is one the write visited.
    tracked = TrackedCollection(new_database("fast"), "rows")
    tracked.insert_many([{"_id": "a", "n": 1}, {"_id": "b", "n": 2}])
    tracked.changed = {}
    assert tracked.find_one({"_id": "b"}, projection={"n": 1}, sort=None) == {"_id": "b", "n": 2}
    assert list(tracked.changed) == ["b"]
    tracked.changed = {}
    assert tracked.find_one({"_id": "z"}, projection=None, sort=None) is None
    assert tracked.changed == {}
