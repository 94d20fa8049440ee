"""Conditions on a field inside a list of documents (`{"members.user_id": uid}`, its `$ne`)
and the projection of the first matching element (`{"members": {"$elemMatch": {"user_id":
uid}}}`) answer, on the embedded store's own path, what mongomock answers: on random lists of
odd shapes (missing fields, None, bools against ints, ints against floats, NaN, nested lists,
duplicates, non-dict elements), the same documents, and results with the same `repr`. The
filters themselves against `filter_applies`: tests/unit/store/test_simple_matcher.py."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from bson.int64 import Int64
from hypothesis import given, settings
from hypothesis import strategies as st
from mongomock.filtering import filter_applies
from pymongo import ReturnDocument

from core.store.embedded import mongomock_collection
from core.store.embedded.mongomock_collection import (
    TrackedCollection,
    elem_match_projection,
    equal_in,
    new_database,
)

NAN = float("nan")
ABSENT = object()  # a document without `members`
# What a filter or a projection asks for, and what a member's field holds: few enough values
# that they meet often (1, 1.0 and True are equal in Python, and so to mongomock).
wanted = st.sampled_from([None, True, False, 0, 1, 1.0, 1.5, "u1", "u2", ""])
plain_value = st.one_of(wanted, st.just(NAN))
odd_value = st.one_of(st.lists(wanted, max_size=2), st.tuples(wanted), st.just(Int64(1)),
                      st.just(datetime(2026, 1, 1)), st.dictionaries(st.just("user_id"), wanted))
member = st.dictionaries(st.sampled_from(["user_id", "role"]), plain_value, max_size=2)
odd_member = st.dictionaries(st.sampled_from(["user_id", "role"]),
                             st.one_of(plain_value, odd_value), min_size=1, max_size=2)
odd_element = st.one_of(st.none(), wanted, odd_member, st.lists(member, max_size=2),
                        st.tuples(member))
plain_members = st.lists(member, max_size=6)
# One odd element among plain ones (each odd shape alone), or odd ones anywhere.
odd_members = st.one_of(
    st.builds(lambda ms, odd, at: [*ms[:at], odd, *ms[at:]], plain_members,
              st.one_of(odd_element, st.fixed_dictionaries({"user_id": odd_value})),
              st.integers(0, 6)),
    st.lists(st.one_of(member, odd_member, odd_element), max_size=6))
# What a document's `members` holds: a list mostly, anything now and then.
members_field = st.one_of(plain_members, odd_members, plain_members, odd_members, st.none(),
                          wanted, member, st.tuples(member), st.just(ABSENT))


def document(n: int, members: Any, other: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": f"p{n}", "a": other}
    if members is not ABSENT:
        doc["members"] = members
    return doc


documents = st.lists(st.builds(lambda m, o: (m, o), members_field, wanted), max_size=4).map(
    lambda pairs: [document(n, m, o) for n, (m, o) in enumerate(pairs)])
condition = st.one_of(wanted, st.builds(lambda v: {"$ne": v}, wanted),
                      st.builds(lambda v: {"$ne": v}, st.just(NAN)), st.just(NAN))
filters = st.dictionaries(st.sampled_from(["members.user_id", "members.role", "a"]), condition,
                          min_size=1, max_size=2)


def test_plain_lists_are_answered_without_mongomock(long_form: bool) -> None:
    """`equal_in` answers for every list of dicts with plain values (NaN asked for aside):
    the first element `filter_applies` takes for `{"user_id": wanted}`."""

    @settings(max_examples=2000 if long_form else 300, deadline=None, database=None)
    @given(plain_members, wanted)
    def check(members: list[dict[str, Any]], value: Any) -> None:
        at = equal_in(members, "user_id", value)
        first = next((n for n, m in enumerate(members) if filter_applies({"user_id": value}, m)),
                     None)
        assert at == first, (members, value)

    check()


def test_equal_in_answers_as_mongomock_or_leaves_it(long_form: bool) -> None:
    """On any list, asked for a value it holds (somewhere inside) or another: `equal_in`
    answers the equality, the `$ne` and the first element `filter_applies` takes, or leaves
    the list to mongomock."""

    @settings(max_examples=3000 if long_form else 500, deadline=None, database=None)
    @given(odd_members, st.data())
    def check(members: list[Any], data: st.DataObject) -> None:
        held = [v for m in members if isinstance(m, dict) for v in m.values()]
        held += [v for v in held if isinstance(v, (list, tuple, dict))
                 for v in (v.values() if isinstance(v, dict) else v)]
        value = data.draw(st.one_of(wanted, st.sampled_from(held)) if held else wanted)
        at = equal_in(members, "user_id", value)
        if at is mongomock_collection._UNSURE:
            return
        doc = {"members": members}
        assert (at is not None) == filter_applies({"members.user_id": value}, doc)
        assert (at is None) == filter_applies({"members.user_id": {"$ne": value}}, doc)
        first = next((n for n, m in enumerate(members) if filter_applies({"user_id": value}, m)),
                     None)
        assert at == first, (members, value)

    check()


@pytest.mark.parametrize(("members", "value"), [
    ([{"user_id": [1]}], 1), ([{"user_id": 1}, None], 1), ([[{"user_id": 1}]], 1),
    ([{"user_id": Int64(1)}], 1), ([{"user_id": 1}], NAN), (({"user_id": 1},), 1),
])
def test_odd_lists_are_left_to_mongomock(members: Any, value: Any) -> None:
    assert equal_in(members, "user_id", value) is mongomock_collection._UNSURE


projections = st.one_of(
    st.builds(lambda v: {"members": {"$elemMatch": {"user_id": v}}},
              st.one_of(wanted, st.just(NAN))),
    st.builds(lambda v: {"a": {"$elemMatch": {"user_id": v}}}, wanted),
    st.builds(lambda v: {"members": {"$elemMatch": {"user_id": v}}, "_id": 0}, wanted),
    st.builds(lambda v: {"members": {"$elemMatch": {"user_id": v, "role": v}}}, wanted),
    st.builds(lambda v: {"members": {"$elemMatch": {"user_id": {"$ne": v}}}}, wanted),
    st.just({"members": 1}), st.none())


@pytest.mark.parametrize("in_write", [False, True])
def test_find_one_answers_what_mongomock_answers(long_form: bool, in_write: bool) -> None:
    """The membership read (`_id`, `members.user_id`, the `$elemMatch` projection) and its
    neighbours, alone or inside a write (find_one_and_update's): the same document or None,
    with the same `repr`, a copy of what is stored."""

    @settings(max_examples=2000 if long_form else 300, deadline=None, database=None)
    @given(filters, projections, documents, st.integers(0, 4))
    def check(query: dict[str, Any], projection: Any, docs: list[dict[str, Any]],
              pick: int) -> None:
        tracked = TrackedCollection(new_database("fast"), "projects")
        plain_mongomock = new_database("plain")["projects"]
        for doc in docs:
            tracked.insert_one(copy.deepcopy(doc))
            plain_mongomock.insert_one(copy.deepcopy(doc))
        if pick % 2:  # as `member_role` asks: by `_id`
            query = {"_id": f"p{pick // 2}", **query}
        tracked.changed = {} if in_write else None
        ours = tracked.find_one(query, copy.deepcopy(projection), sort=None)
        tracked.changed = None
        theirs = plain_mongomock.find_one(query, copy.deepcopy(projection))
        assert repr(ours) == repr(theirs), (query, projection, docs)
        if ours is not None and "_id" in ours:  # a copy: the stored document is untouched
            stored = repr(tracked.document(ours["_id"]))
            for value in ours.values():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    value[0]["user_id"] = "changed"
            assert repr(tracked.document(ours["_id"])) == stored

    check()


def test_the_projection_answers_what_copy_only_fields_answers(long_form: bool) -> None:
    @settings(max_examples=2000 if long_form else 300, deadline=None, database=None)
    @given(projections, members_field)
    def check(projection: Any, members: Any) -> None:
        doc = document(0, members, None)
        ours = elem_match_projection(doc, projection)
        if ours is not None:
            theirs = new_database("plain")["p"]._copy_only_fields(doc, copy.deepcopy(projection),
                                                                  dict)
            assert repr(ours) == repr(theirs), (projection, doc)

    check()


def test_a_scan_and_a_count_find_what_mongomock_finds(long_form: bool) -> None:
    @settings(max_examples=1000 if long_form else 100, deadline=None, database=None)
    @given(filters, documents)
    def check(query: dict[str, Any], docs: list[dict[str, Any]]) -> None:
        tracked = TrackedCollection(new_database("fast"), "projects")
        plain_mongomock = new_database("plain")["projects"]
        for doc in docs:
            tracked.insert_one(copy.deepcopy(doc))
            plain_mongomock.insert_one(copy.deepcopy(doc))
        assert repr(list(tracked.find(query))) == repr(list(plain_mongomock.find(query)))
        assert tracked.count_documents(query) == plain_mongomock.count_documents(query)

    check()


def no_cursor(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a cursor was made")


@pytest.mark.parametrize("user_id", ["u1", "u9"])
def test_adding_a_member_writes_what_mongomock_writes(user_id: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`add_member`'s write: pushed unless the user is a member already, its finds made
    without a cursor (mongomock's copies every match twice); the write notes the project it
    changed."""
    tracked = TrackedCollection(new_database("fast"), "projects")
    plain_mongomock = new_database("plain")["projects"]
    doc = {"_id": "p", "members": [{"user_id": f"u{n}", "role": "member"} for n in range(5)]}
    for collection in (tracked, plain_mongomock):
        collection.insert_one(copy.deepcopy(doc))
    tracked.changed = {}
    monkeypatch.setattr(TrackedCollection, "find", no_cursor)
    answers = [collection.find_one_and_update(
        {"_id": "p", "members.user_id": {"$ne": user_id}},
        {"$push": {"members": {"user_id": user_id, "role": "member"}}},
        return_document=ReturnDocument.AFTER) for collection in (tracked, plain_mongomock)]
    assert repr(answers[0]) == repr(answers[1])
    assert (answers[0] is None) == (user_id == "u1")
    assert tracked.document("p") == plain_mongomock.find_one({"_id": "p"})
    assert list(tracked.changed) == ([] if user_id == "u1" else ["p"])


def test_the_membership_read_takes_neither_filter_applies_nor_copy_only_fields(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tracked = TrackedCollection(new_database("fast"), "projects")
    members = [{"user_id": f"u{n}", "role": "head" if n == 0 else "member"} for n in range(500)]
    tracked.insert_one({"_id": "p", "members": members})

    def generic(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("mongomock's generic path was taken")

    monkeypatch.setattr(mongomock_collection, "_filter_applies", generic)
    monkeypatch.setattr(TrackedCollection, "_copy_only_fields", generic)

    def role(user_id: str) -> Any:
        return tracked.find_one({"_id": "p", "members.user_id": user_id},
                                {"members": {"$elemMatch": {"user_id": user_id}}})

    assert role("u321") == {"_id": "p", "members": [{"user_id": "u321", "role": "member"}]}
    assert role("u0") == {"_id": "p", "members": [{"user_id": "u0", "role": "head"}]}
    assert role("u500") is None
    assert tracked.count_documents({"members.user_id": "u7"}) == 1
    with pytest.raises(AssertionError, match="generic path"):  # it can tell
        tracked.find_one({"_id": "p", "members.user_id": {"$gt": "u"}})
