"""The embedded store's plain test for equality and `$in` filters answers what mongomock's
`filter_applies` answers, on random documents and filters (including lists, missing fields,
None, bools against ints and bson's own number types), and a scan by it finds the same
documents in the same order."""

from __future__ import annotations

from datetime import datetime
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

FIELDS = ["a", "b", "sid"]
plain = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, 1.0, 1.5]),
                  st.sampled_from(["", "x", "y"]))
value = st.one_of(plain, st.lists(plain, max_size=3), st.builds(Int64, st.integers(-2, 2)),
                  st.just(datetime(2026, 1, 1)), st.dictionaries(st.just("k"), plain, max_size=1),
                  st.just(b"x"))
documents = st.dictionaries(st.sampled_from(FIELDS), value, max_size=3)
condition = st.one_of(plain, st.builds(lambda vs: {"$in": vs}, st.lists(plain, max_size=4)))
filters = st.dictionaries(st.sampled_from(FIELDS), condition, min_size=1, max_size=3)


def test_it_answers_what_filter_applies_answers(long_form: bool) -> None:
    @settings(max_examples=5000 if long_form else 500, deadline=None, database=None)
    @given(filters, st.lists(documents, max_size=8))
    def check(query: dict[str, Any], docs: list[dict[str, Any]]) -> None:
        match = simple_matcher(query)
        assert match is not None
        for doc in docs:
            assert match(doc) == filter_applies(query, doc), (query, doc)

    check()


@pytest.mark.parametrize("query", [
    {}, {"a.b": 1}, {"$or": [{"a": 1}]}, {"a": {"$gt": 1}}, {"a": {"$in": [1], "$ne": 2}},
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
