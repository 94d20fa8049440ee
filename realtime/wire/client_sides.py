"""Stands in for the package `__init__` of python-socketio 5.18.1, python-engineio 4.15.1 and
taskiq 0.13.0's `taskiq.middlewares`: the same module, run from upstream's own source when it
is first imported, except that the client classes it imports (`Client`, `AsyncClient` and
socketio's simple clients; taskiq's `TaskiqAdminMiddleware`, an HTTP client of taskiq-admin)
are imported on first use.

A server never uses them, and they are most of those packages' import: Engine.IO's clients
import aiohttp and requests (with urllib3), taskiq's admin middleware aiohttp, and a restarted
`roomcast serve` spent that CPU before it answered its first client. `socketio.AsyncClient`
and the rest still resolve, to the same classes, the first time they are asked for (a
module-level `__getattr__`, PEP 562). Re-check on upgrade: tests/canary/test_client_sides.py.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
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
    "taskiq.middlewares": {"taskiq_admin_middleware": ("TaskiqAdminMiddleware",)},
}


def defer_client_sides() -> None:
    """From now on, the packages of `DEFERRED` are imported without their client sides (one
    whose `__init__` no longer matches `DEFERRED` is imported as it is); a package already
    imported stays as it is."""
    if not any(isinstance(finder, _WithoutClientSides) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WithoutClientSides())


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


class _WithoutClientSides(MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        deferred = DEFERRED.get(fullname)
        if deferred is None:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or spec.submodule_search_locations is None:
            return None
        body = split_init(Path(spec.origin).read_text(encoding="utf-8"), deferred)
        if body is None:
            return None
        spec.loader = _InitLoader(compile(body, spec.origin, "exec"), deferred)
        return spec


class _InitLoader(Loader):
    def __init__(self, code: Any, deferred: dict[str, tuple[str, ...]]) -> None:
        self._code = code
        self._deferred = deferred

    def exec_module(self, module: ModuleType) -> None:
        setattr(module, "__getattr__", _first_use(module, self._deferred))  # noqa: B010 (PEP 562)
        exec(self._code, module.__dict__)  # upstream's own `__init__`, less the deferred imports


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
