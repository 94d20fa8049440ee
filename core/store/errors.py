"""PyMongo's errors turned into ours, in the one place every store call passes through
(core/store/collection.py), for MongoDB and the embedded store alike (mongomock raises
PyMongo's errors too). Outside core/store nobody catches a driver exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from bson.errors import BSONError
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WTimeoutError,
)

from core.errors import DuplicateKey, PartialWrite, StoreFailed, StoreUnavailable

DUPLICATE_KEY = 11000
# Labels the server puts on an error that a retry may get past (an election, a reset).
RETRYABLE_LABELS = ("RetryableWriteError", "TransientTransactionError")


def translate(exc: PyMongoError | BSONError) -> StoreUnavailable | StoreFailed:
    """The error of ours that stands for `exc`: unavailable when another attempt may succeed
    (no server, a dropped connection, a timeout), failed when it would fail again (a document
    BSON cannot encode or that is too large is refused before it leaves: a BSONError)."""
    if isinstance(exc, BSONError):
        return StoreFailed(str(exc))
    if isinstance(exc, BulkWriteError):
        return PartialWrite(_write_errors(exc.details))
    if isinstance(exc, DuplicateKeyError):
        return DuplicateKey(str(exc))
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError) or any(
            exc.has_error_label(label) for label in RETRYABLE_LABELS):
        return StoreUnavailable()
    return StoreFailed(str(exc))


def _write_errors(details: Mapping[str, Any]) -> dict[int, StoreFailed]:
    failed: dict[int, StoreFailed] = {}
    for error in details.get("writeErrors", []):
        kind = DuplicateKey if error.get("code") == DUPLICATE_KEY else StoreFailed
        failed[int(error["index"])] = kind(str(error.get("errmsg", "write failed")))
    return failed


class Translated:
    """`with translated():` raises ours for any driver error raised inside, chained to it (the
    log shows both). A plain class rather than a generator: it is entered on every store call."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, PyMongoError | BSONError):
            raise translate(exc) from exc


_TRANSLATED = Translated()


def translated() -> Translated:
    return _TRANSLATED
