"""Stands in for the package `__init__` of python-socketio 5.18.1 and python-engineio 4.15.1:
the same module, run from upstream's own source, except that the client classes it imports
(`Client`, `AsyncClient` and socketio's simple clients) are imported on first use.

A server never uses them, and they are most of the packages' import: Engine.IO's clients
import aiohttp and requests (with urllib3), a restarted `roomcast serve` spent that CPU before
it answered its first client. `socketio.AsyncClient` and the rest still resolve, to the same
classes, the first time they are asked for (a module-level `__getattr__`, PEP 562).
Re-check on upgrade: tests/canary/test_client_sides.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

# Package -> its submodule -> the names the package's `__init__` imports from it, left for
# first use.
DEFERRED: dict[str, dict[str, tuple[str, ...]]] = {
    "engineio": {"client": ("Client",), "async_client": ("AsyncClient",)},
    "socketio": {"client": ("Client",), "simple_client": ("SimpleClient",),
                 "async_client": ("AsyncClient",),
                 "async_simple_client": ("AsyncSimpleClient",)},
}


def defer_client_sides() -> list[str]:
    """Import python-engineio and python-socketio without their client sides; the packages
    this did it for (none already imported, nor one whose `__init__` no longer matches
    `DEFERRED`: that one is imported as it is)."""
    return [package for package, deferred in DEFERRED.items()
            if package not in sys.modules and _import_without(package, deferred)]


def split_init(source: str, deferred: dict[str, tuple[str, ...]]) -> ast.Module | None:
    """The package `__init__` without the imports of `deferred`, or None when its imports of
    them are not exactly `from .submodule import Name` statements naming those names."""
    tree = ast.parse(source)
    kept: list[ast.stmt] = []
    found: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in deferred:
            if any(alias.asname is not None for alias in node.names):
                return None
            found[node.module] = tuple(alias.name for alias in node.names)
        else:
            kept.append(node)
    return ast.Module(body=kept, type_ignores=[]) if found == deferred else None


def _import_without(package: str, deferred: dict[str, tuple[str, ...]]) -> bool:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None or spec.loader is None:
        return False
    body = split_init(Path(spec.origin).read_text(encoding="utf-8"), deferred)
    if body is None:
        return False
    module = importlib.util.module_from_spec(spec)
    setattr(module, "__getattr__", _first_use(module, deferred))  # noqa: B010 (PEP 562)
    sys.modules[package] = module
    try:
        exec(compile(body, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[package]
        raise
    return True


def _first_use(module: ModuleType, deferred: dict[str, tuple[str, ...]]) -> Any:
    where = {name: submodule for submodule, names in deferred.items() for name in names}

    def __getattr__(name: str) -> Any:
        submodule = where.get(name)
        if submodule is None:
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{module.__name__}.{submodule}"), name)
        setattr(module, name, value)
        return value

    return __getattr__
