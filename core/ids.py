"""Identifiers and clocks. One place, so tests and code agree on both."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_id() -> str:
    """A random 32-hex-character id for any document: 128 random bits (one is made for every
    meeting message, so without building a UUID object for it)."""
    return os.urandom(16).hex()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def utcnow() -> datetime:
    # Mongo keeps milliseconds: truncate so a stored value compares equal to the one we hold.
    return _EPOCH + timedelta(milliseconds=time.time_ns() // 1_000_000)


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000
