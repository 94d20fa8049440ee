"""Stands in for parts of mongomock 4.3.0's `Collection` and `CollectionStore`: the only module
that reaches into mongomock's internals. Re-check on upgrade:
tests/unit/store/test_mongomock_canary.py, tests/unit/store/test_simple_matcher.py and
tests/unit/store/test_list_fields.py (which compare `simple_matcher` and
`elem_match_projection` with mongomock's own matching and projection).

- `Collection._iter_documents` (every query's scan): a query on `_id` (a value, or `$in`)
  looks its documents up instead of scanning the collection; a query made only of fields
  each equal to a scalar, `$ne` one, or (top-level fields) `$in` a list of scalars
  (`{"left_at": None}`, `{"sid": {"$in": sids}}`), a field being top-level or one of the
  documents in a list (`{"members.user_id": uid}`, `{"members.user_id": {"$ne": uid}}`), is
  matched by `simple_matcher`, a plain test per document with the same answer as mongomock's
  `filter_applies` (whose `$in` compares each document with the whole list, so a shutdown
  ending 5000 stays among 55,000 took over two minutes, and whose walk through a list of
  5000 members took 2.4 ms of CPU per read: benchmarks/member_lookup.py); so are the documents
  found by `_id`. Every document a write visits is noted in `changed`, so the engine can
  journal what the write left behind.
- `Collection.find_one` (the reads a connect and a join make: a user, a meeting, a
  membership), when it has no sort: its documents are found as `_iter_documents` finds them
  (by `_id`, or by `simple_matcher`; a filter of a string `_id` alone, every repository's
  `get`, by one lookup in the store's table), the first is returned, copied as mongomock's cursor
  copies it (every dict and list new, naive datetimes returned UTC-aware; the membership
  read's projection `{"members": {"$elemMatch": {"user_id": uid}}}` by
  `elem_match_projection`, any other by mongomock's own `_copy_only_fields`). Mongomock's
  cursor instead finds and copies every match to return the first, in two passes (a copy,
  then one making datetimes aware). The same within a write (`find_one_and_update` reads the
  document before and after): the document returned is noted in `changed`.
- `Collection._insert` (a single document): its `_id` is noted in `changed` once stored. A
  plain document (`stored_copy`: a dict with a string `_id`, whose values are strings,
  numbers, booleans, None, datetimes, and dicts and lists of them) in a collection with no
  unique index but `_id`'s is stored as mongomock stores it (the same checks in the same
  order, the same BSON validation, the same copy with datetimes made naive UTC in whole
  milliseconds) without mongomock's per-document Python walk, version parse and store locks:
  a meeting stay or a message is stored for 0.4 of the CPU (benchmarks/store_inserts.py);
  tests/unit/store/test_fast_insert.py compares the two on random and odd documents.
- `CollectionStore._ttl_indexes`: emptied, so no read scans for expired documents; the
  engine deletes them itself, through the journal (see engine.py).
- `CollectionStore._documents`: read and filled directly when a snapshot is written or the
  store is loaded, without the per-document work of `insert_one`; a plain dict instead of
  mongomock's OrderedDict (`_plain_documents`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from itertools import repeat
from typing import Any

import mongomock
from bson import BSON
from mongomock import DuplicateKeyError, helpers
from mongomock.filtering import filter_applies

_SCALARS = (str, int, float, bytes)
# Exact types (no subclasses: bson's Int64 or Binary compare and hash their own way) whose
# equality and hashing agree, so a set's `in` answers what a list's `in` answers.
_PLAIN = (str, int, float, bool)
_MISSING = object()  # a field the document lacks
# Typed as Any: mongomock ships no types of its own, and mypy would take PyMongo's for it.
_Collection: Any = mongomock.Collection
_filter_applies: Any = filter_applies
_helpers: Any = helpers
_UTC = _helpers.utc  # bson's UTC tzinfo: the one mongomock's reads put on datetimes
_BSON: Any = BSON  # what mongomock's `_insert` validates a document with


class TrackedCollection(_Collection):  # type: ignore[misc]
    def __init__(self, database: Any, name: str) -> None:
        super().__init__(database, name=name, _db_store=database._store,
                         codec_options=database.codec_options)
        # The ids of the documents the running write visited, in order; None outside writes.
        self.changed: dict[Any, None] | None = None
        _plain_documents(self._store)

    def drop(self, session: Any = None) -> None:
        super().drop(session)
        _plain_documents(self._store)

    def _iter_documents(self, filter: Mapping[str, Any]) -> Iterator[dict[str, Any]]:  # noqa: A002
        found = self._by_id(filter)
        if found is None:
            match = simple_matcher(filter)
            if match is None:
                found = super()._iter_documents(filter)
            else:
                found = (doc for doc in list(self._store.documents) if match(doc))
        changed = self.changed
        if changed is None:
            return found
        return _noting(found, changed)

    def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        # With no sort, however it is spelled (the repositories pass `projection` and `sort`).
        projection = args[0] if args else kwargs.get("projection")
        plain = (len(args) <= 1 and kwargs.keys() <= {"projection", "sort"}
                 and not kwargs.get("sort"))
        if not plain or type(filter) is not dict:
            return super().find_one(filter, *args, **kwargs)
        if len(filter) == 1 and type(wanted := filter.get("_id")) is str:
            # By a string id, the way every repository reads one document: the store's table
            # answers, as a str key equals only the same string.
            doc = self._store._documents.get(wanted)
            if doc is None:
                return None
            if self.changed is not None:
                self.changed[wanted] = None
            return self._read(doc, projection)
        # The filter as mongomock's cursor uses it (aware datetimes made naive, as stored).
        found = self._by_id(_helpers.patch_datetime_awareness_in_document(filter))
        if found is None:
            match = simple_matcher(filter)
            if match is None:
                return super().find_one(filter, *args, **kwargs)
            found = (doc for doc in self._store._documents.values() if match(doc))
        doc = next(found, None)
        if doc is None:
            return None
        if self.changed is not None:  # in a write (find_one_and_update's): noted as visited
            self.changed[doc["_id"]] = None
        return self._read(doc, projection)

    def _read(self, doc: dict[str, Any], projection: Any) -> Any:
        """A stored document as mongomock's cursor returns it."""
        if projection is None and self.codec_options.tz_aware:
            return _read_copy(doc)
        found = elem_match_projection(doc, projection)
        if found is None:
            found = self._copy_only_fields(doc, projection, dict)
        if self.codec_options.tz_aware:
            found = _helpers.make_datetime_timezone_aware_in_document(found)
        return found

    def _by_id(self, filter: Mapping[str, Any]) -> Iterator[dict[str, Any]] | None:  # noqa: A002
        wanted = filter.get("_id") if isinstance(filter, Mapping) else None
        if isinstance(wanted, _SCALARS):
            ids: Iterable[Any] = (wanted,)
        elif (isinstance(wanted, Mapping) and list(wanted) == ["$in"]
              and all(isinstance(v, _SCALARS) for v in wanted["$in"])):
            ids = dict.fromkeys(wanted["$in"])
        else:
            return None
        documents = self._store._documents
        hits = [documents[i] for i in ids if i in documents]
        match = simple_matcher(filter) or (lambda doc: _filter_applies(filter, doc))
        return (doc for doc in hits if match(doc))

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        inserted = self._insert_plain(data) if session is None else _UNSURE
        if isinstance(inserted, _Unsure):
            inserted = super()._insert(data, session, ordered)
        if self.changed is not None and isinstance(data, Mapping):
            self.changed[inserted] = None
        return inserted

    def _insert_plain(self, data: Any) -> Any:
        """mongomock's `_insert` of one document, for a plain one (`stored_copy`) with a
        string `_id` in a collection whose only unique index is `_id`'s; _UNSURE otherwise
        (nothing done: mongomock's own path decides)."""
        if type(data) is not dict or type(data.get("_id")) is not str:
            return _UNSURE
        for key in data:  # mongomock's key checks, before its BSON validation
            if type(key) is not str or key.startswith("$") or "\0" in key:
                return _UNSURE
        stored = stored_copy(data)
        store = self._store
        if isinstance(stored, _Unsure) or any(
                index.get("unique") for index in store.indexes.values()):
            return _UNSURE
        _BSON.encode(data, check_keys=False)  # what mongomock validates with: same errors
        doc_id = data["_id"]
        documents = store._documents
        if doc_id in documents:
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        documents[doc_id] = stored
        return doc_id

    def create_index(self, key_or_list: Any, cache_for: int = 300, session: Any = None,
                     **kwargs: Any) -> str:
        name: str = super().create_index(key_or_list, cache_for, session, **kwargs)
        self._store._ttl_indexes.clear()
        return name

    # What the engine reads and loads.

    def document(self, doc_id: Any) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._store._documents.get(doc_id)
        return found

    def ids(self) -> list[Any]:
        return list(self._store._documents)

    def load(self, documents: Iterable[dict[str, Any]]) -> None:
        stored = self._store._documents
        for doc in documents:
            stored[doc["_id"]] = doc

    def unload(self, doc_ids: Iterable[Any]) -> None:
        stored = self._store._documents
        for doc_id in doc_ids:
            stored.pop(doc_id, None)

    def count(self) -> int:
        return len(self._store._documents)


def simple_matcher(filter: Any) -> Callable[[dict[str, Any]], bool] | None:  # noqa: A002
    """A test that answers what `filter_applies(filter, doc)` answers, for a filter whose every
    condition is a field equal to a scalar (or None), `$ne` one, or (a top-level field) `$in` a
    list of them; a field is top-level (`a`) or in a list of documents (`a.b`: the membership
    queries, `{"members.user_id": uid}`). None for any other filter. A document whose field
    holds what `equal_in` cannot answer for, or an unusual type, is handed to
    `filter_applies` itself."""
    if not isinstance(filter, dict) or not filter:
        return None
    tests: list[tuple[str, str | None, str, Any]] = []  # (field, subfield, operator, value)
    for field, wanted in filter.items():
        path = _field_path(field)
        if path is None:
            return None
        if _is_plain(wanted):
            tests.append((*path, "$eq", wanted))
        elif type(wanted) is dict and list(wanted) == ["$ne"] and _is_plain(wanted["$ne"]):
            tests.append((*path, "$ne", wanted["$ne"]))
        elif (path[1] is None and type(wanted) is dict and list(wanted) == ["$in"]
              and type(wanted["$in"]) in (list, tuple)
              and all(_is_plain(v) for v in wanted["$in"])):
            tests.append((*path, "$in", frozenset(wanted["$in"])))
        else:
            return None

    def match(doc: dict[str, Any]) -> bool:
        for field, subfield, op, wanted in tests:
            value = doc.get(field, _MISSING)
            if subfield is not None:
                at = equal_in(value, subfield, wanted)
                if isinstance(at, _Unsure):
                    return bool(_filter_applies(filter, doc))
                found = at is not None
            elif op == "$in":
                if value is _MISSING:
                    found = None in wanted  # `$in: [None]` matches a missing field
                elif value is None or type(value) in _PLAIN:
                    found = value in wanted
                else:
                    return bool(_filter_applies(filter, doc))
            elif type(value) in (list, tuple):  # equality with any element: mongomock's rules
                return bool(_filter_applies(filter, doc))
            else:
                found = value == wanted or (wanted is None and value is _MISSING)
            if found == (op == "$ne"):
                return False
        return True

    return match


def elem_match_projection(doc: dict[str, Any], projection: Any) -> dict[str, Any] | None:
    """What mongomock's `_copy_only_fields` makes of `doc` for a projection
    `{"a": {"$elemMatch": {"b": scalar}}}` (the membership read's): `_id` and, if `a` is a
    list, its first element whose `b` equals the scalar, as `[element]` (the stored one, not a
    copy: mongomock's read copies it afterwards). None for any other projection, or when
    `equal_in` cannot answer for the list."""
    if type(projection) is not dict or len(projection) != 1:
        return None
    ((field, spec),) = projection.items()
    if _field_path(field) != (field, None) or field == "_id" or type(spec) is not dict:
        return None
    query = spec.get("$elemMatch") if len(spec) == 1 else None
    if type(query) is not dict or len(query) != 1:
        return None
    ((subfield, wanted),) = query.items()
    if _field_path(subfield) != (subfield, None) or not _is_plain(wanted):
        return None
    found = {"_id": doc["_id"]} if "_id" in doc else {}
    items = doc.get(field)
    if not isinstance(items, list):  # missing, or nothing to look in: no field
        return found
    at = equal_in(items, subfield, wanted)
    if isinstance(at, _Unsure):
        return None
    if at is not None:
        found[field] = [items[at]]
    return found


class _Unsure:
    """What `equal_in` answers for a list it leaves to mongomock."""


_UNSURE = _Unsure()
# The types of a subfield's values `equal_in` compares as mongomock does (`object`: _MISSING).
_LISTED = frozenset((*_PLAIN, type(None), object))


def equal_in(items: Any, subfield: str, wanted: Any) -> int | _Unsure | None:
    """The index of the first dict of the list `items` whose `subfield` equals `wanted` by
    mongomock's rules (`==`, and None equal to a missing field), or None: what decides
    `{"a.b": wanted}` (some element), `{"a.b": {"$ne": wanted}}` (none) and the projection
    `{"a": {"$elemMatch": {"b": wanted}}}` (the first). _UNSURE unless `items` is a list of
    dicts whose `subfield` values are plain scalars or None, and `wanted` is one too but not
    NaN (which `list.index` would find by identity): a non-dict element, a nested list or an
    unusual type is left to mongomock. Its loops run in C (benchmarks/member_lookup.py)."""
    if (type(items) is not list or not _is_plain(wanted) or wanted != wanted
            or not set(map(type, items)) <= {dict}):
        return _UNSURE
    values = list(map(dict.get, items, repeat(subfield), repeat(_MISSING)))
    if not set(map(type, values)) <= _LISTED:
        return _UNSURE
    found = [_index(values, wanted)]
    if wanted is None:
        found.append(_index(values, _MISSING))
    return min((at for at in found if at is not None), default=None)


def _index(values: list[Any], wanted: Any) -> int | None:
    try:
        return values.index(wanted)
    except ValueError:
        return None


def _field_path(field: Any) -> tuple[str, str | None] | None:
    """`a` as (a, None), `a.b` as (a, b); None for anything else (operators, deeper paths,
    array indexes such as `a.0`, which mongomock reads wherever `int()` takes a part)."""
    if not isinstance(field, str):
        return None
    top, dot, subfield = field.partition(".")
    if not top or top[0] == "$":
        return None
    if not dot:
        return top, None
    if not subfield or subfield[0] == "$" or "." in subfield or _is_int(subfield):
        return None
    return top, subfield


def _is_int(part: str) -> bool:
    try:
        int(part)
    except ValueError:
        return False
    return True


def _is_plain(value: Any) -> bool:
    return value is None or type(value) in _PLAIN


_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def _read_copy(value: Any) -> Any:
    """What mongomock's read returns for a stored value: `_copy_field` (new dicts and lists,
    `copy.copy` of anything else) then `make_datetime_timezone_aware_in_document` (tuples
    become lists, naive datetimes UTC-aware)."""
    if type(value) in _IMMUTABLE:
        return value
    if isinstance(value, dict):
        return {key: _read_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_read_copy(item) for item in value]
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC)
    return copy.copy(value)


def _plain_documents(store: Any) -> None:
    """The collection's documents in a dict rather than mongomock's OrderedDict: both keep the
    order of insertion, which is all mongomock asks of it (`in`, get, set, delete, `values`,
    `len`), and a dict keeps no linked list beside its table (less memory per document, and
    less work per document as a store is loaded at start-up)."""
    if type(store._documents) is not dict:
        store._documents = dict(store._documents)


def stored_copy(value: Any) -> Any:
    """What mongomock's `patch_datetime_awareness_in_document` stores for a plain value: new
    dicts and lists (tuples become lists), datetimes naive UTC in whole milliseconds, strings,
    numbers, booleans and None as they are. _UNSURE for anything else, a key of a nested dict
    that is not a string or holds the null character among them (mongomock's own checks and
    BSON's decide those)."""
    kind = type(value)
    if kind in _IMMUTABLE and kind is not bytes:
        return value
    if kind is dict:
        copied = {}
        for key, item in value.items():
            if type(key) is not str or "\0" in key:
                return _UNSURE
            item = stored_copy(item)
            if item is _UNSURE:
                return _UNSURE
            copied[key] = item
        return copied
    if kind is list or kind is tuple:
        items = [stored_copy(item) for item in value]
        return _UNSURE if any(item is _UNSURE for item in items) else items
    if kind is datetime:
        whole_ms = value.microsecond // 1000 * 1000
        if value.tzinfo:  # mongomock's test
            offset = value.utcoffset()
            if offset is None:
                return _UNSURE
            return (value - offset).replace(tzinfo=None, microsecond=whole_ms)
        return value.replace(microsecond=whole_ms)
    return _UNSURE


def _noting(found: Iterable[dict[str, Any]], changed: dict[Any, None]
            ) -> Iterator[dict[str, Any]]:
    for doc in found:
        changed[doc["_id"]] = None
        yield doc


def new_database(name: str) -> Any:
    """A mongomock database of its own (naive UTC datetimes inside, aware ones returned)."""
    return mongomock.MongoClient(tz_aware=True)[name]
