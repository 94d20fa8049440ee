"""Identifiers and clocks. One place, so tests and code agree on both."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A random 32-hex-character id for any document."""
    return uuid.uuid4().hex


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def utcnow() -> datetime:
    # Mongo keeps milliseconds: truncate so a stored value compares equal to the one we hold.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000
