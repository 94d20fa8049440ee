"""The package `__init__` of python-socketio, python-engineio and taskiq's `taskiq.middlewares`,
which realtime/wire/client_sides.py runs without its client imports, and redis-py's
`redis.observability.providers`, run without its optional import of the OpenTelemetry SDK."""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.metadata import version
from pathlib import Path

import pytest

from realtime.wire.client_sides import DEFERRED, OPTIONAL, split_init, split_optional
from tests.canary.upstream import recheck

OURS = "realtime/wire/client_sides.py"
VERIFIED = {"engineio": ("python-engineio", "4.15.1", "d11d8f635117bb7b"),
            "socketio": ("python-socketio", "5.18.1", "0d7c6dc0f22a1c52"),
            "taskiq.middlewares": ("taskiq", "0.13.0", "32e33d6497e8b58e")}


def init_source(package: str) -> str:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).read_text(encoding="utf-8")


@pytest.mark.parametrize("package", sorted(DEFERRED))
def test_the_init_is_the_one_verified(package: str) -> None:
    distribution, verified, expected = VERIFIED[package]
    found = hashlib.sha256(init_source(package).encode()).hexdigest()[:16]
    assert found == expected, (f"{recheck('its package __init__', OURS, distribution, verified)}"
                               f" (source hash {found})")
    assert version(distribution) == verified, recheck("its release", OURS, distribution,
                                                      verified)


@pytest.mark.parametrize("package", sorted(DEFERRED))
def test_the_client_imports_are_the_ones_deferred(package: str) -> None:
    distribution, verified, _ = VERIFIED[package]
    assert split_init(init_source(package), DEFERRED[package]) is not None, recheck(
        "the client imports of its __init__ (no longer `from .submodule import Name` as "
        "DEFERRED lists them: the package is imported whole)", OURS, distribution, verified)


REDIS = ("redis", "8.2.0", "c896f45b10706a3c")


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_the_optional_import_is_still_for_annotations_only(module: str) -> None:
    distribution, verified, expected = REDIS
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    found = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert found == expected, f"{recheck(module, OURS, distribution, verified)} (hash {found})"
    assert split_optional(source, OPTIONAL[module]) is not None, recheck(
        f"{module}'s optional import of {OPTIONAL[module]} (no longer one block whose names "
        "the module uses in annotations only: it is imported whole)", OURS, distribution,
        verified)
