"""What the canaries check: that an upstream release still has what realtime/wire/ relies on.

Each failure names the upstream function, the module of ours that stands on it and the row of
realtime/wire/UPSTREAM.md to update once the new upstream code has been re-read.
"""

from __future__ import annotations

import hashlib
import inspect
from importlib.metadata import version
from typing import Any


def source_hash(obj: Any) -> str:
    """The first 16 hex digits of the SHA-256 of the object's source as installed."""
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def recheck(what: str, ours: str, package: str, verified: str) -> str:
    return (f"{package} {version(package)} (verified: {verified}) changed {what}: re-read it "
            f"against {ours}, then update the version there, in realtime/wire/UPSTREAM.md and "
            f"the hash or signature recorded in this canary")


def assert_source(obj: Any, expected: str, *, what: str, ours: str, package: str,
                  verified: str) -> None:
    found = source_hash(obj)
    assert found == expected, f"{recheck(what, ours, package, verified)} (source hash {found})"


def assert_signature(obj: Any, expected: str, *, what: str, ours: str, package: str,
                     verified: str) -> None:
    found = str(inspect.signature(obj))
    assert found == expected, f"{recheck(what, ours, package, verified)} (signature {found})"
