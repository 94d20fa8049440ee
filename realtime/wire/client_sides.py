"""Stands in for the package `__init__` of python-socketio 5.18.1, python-engineio 4.15.1 and
taskiq 0.13.0's `taskiq.middlewares`: the same module, run from upstream's own source when it
is first imported, except that the client classes it imports (`Client`, `AsyncClient` and
socketio's simple clients; taskiq's `TaskiqAdminMiddleware`, an HTTP client of taskiq-admin)
are imported on first use. And for redis-py 8.2.0's `redis.observability.providers`, which
imports the OpenTelemetry SDK's metrics (when installed, as tracing installs it) for its
annotations only: its `try: from opentelemetry.sdk.metrics import ...` runs on first use.

A server never uses them, and they are most of those packages' import: Engine.IO's clients
import aiohttp and requests (with urllib3), taskiq's admin middleware aiohttp, and a restarted
`roomcast serve` spent the CPU of those and of the SDK's metrics before it answered its first
client. `socketio.AsyncClient` and the rest still resolve, to the same objects, the first time
they are asked for (a module-level `__getattr__`, PEP 562).
Re-check on upgrade: tests/canary/test_client_sides.py.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import sys
from collections.abc import Iterator, Sequence
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
# Module -> the module of its optional import (a top-level `try: from it import ...`) whose
# names the rest of the module uses in annotations only (compiled unevaluated, PEP 563).
OPTIONAL: dict[str, str] = {"redis.observability.providers": "opentelemetry.sdk.metrics"}


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


def split_optional(source: str, optional: str) -> tuple[ast.Module, ast.Module, set[str]] | None:
    """The module without its `try: from <optional> import ...` block, that block, and the
    names it binds; None unless there is one such block and the rest of the module uses those
    names in annotations only."""
    tree = ast.parse(source)
    blocks = [node for node in tree.body if isinstance(node, ast.Try) and any(
        isinstance(inner, ast.ImportFrom) and inner.module == optional and inner.level == 0
        for inner in node.body)]
    if len(blocks) != 1:
        return None
    block = blocks[0]
    names = {target.id for node in ast.walk(block) if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    names |= {alias.asname or alias.name for node in ast.walk(block)
              if isinstance(node, ast.ImportFrom) for alias in node.names}
    rest = [node for node in tree.body if node is not block]
    if any(name in names for name in _names_outside_annotations(rest)):
        return None
    return (ast.Module(body=rest, type_ignores=[]), ast.Module(body=[block], type_ignores=[]),
            names)


def _names_outside_annotations(body: list[ast.stmt]) -> Iterator[str]:
    annotations = {id(node) for stmt in body for node in ast.walk(stmt) for annotation in (
        [node.annotation] if isinstance(node, (ast.arg, ast.AnnAssign)) else
        [node.returns] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else [])
        if annotation is not None for node in ast.walk(annotation)}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and id(node) not in annotations:
                yield node.id


class _WithoutClientSides(MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in DEFERRED and fullname not in OPTIONAL:
            return None
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        source = Path(spec.origin).read_text(encoding="utf-8")
        if fullname in DEFERRED:
            body = split_init(source, DEFERRED[fullname])
            if body is None or spec.submodule_search_locations is None:
                return None
            spec.loader = _InitLoader(_compiled(body, spec.origin), DEFERRED[fullname])
            return spec
        parts = split_optional(source, OPTIONAL[fullname])
        if parts is None:
            return None
        rest, block, names = parts
        spec.loader = _OptionalLoader(_compiled(rest, spec.origin, annotations=True),
                                      _compiled(block, spec.origin), names)
        return spec


def _compiled(body: ast.Module, origin: str, *, annotations: bool = False) -> Any:
    # Upstream's own future imports only (dont_inherit), plus PEP 563 where asked.
    flags = __future__.annotations.compiler_flag if annotations else 0
    return compile(body, origin, "exec", flags=flags, dont_inherit=True)


class _InitLoader(Loader):
    def __init__(self, code: Any, deferred: dict[str, tuple[str, ...]]) -> None:
        self._code = code
        self._deferred = deferred

    def exec_module(self, module: ModuleType) -> None:
        setattr(module, "__getattr__", _first_use(module, self._deferred))  # noqa: B010 (PEP 562)
        exec(self._code, module.__dict__)  # upstream's own `__init__`, less the deferred imports


class _OptionalLoader(Loader):
    def __init__(self, code: Any, block: Any, names: set[str]) -> None:
        self._code, self._block, self._names = code, block, names

    def exec_module(self, module: ModuleType) -> None:
        namespace, block, names = module.__dict__, self._block, self._names

        def __getattr__(name: str) -> Any:
            if name not in names:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            exec(block, namespace)  # upstream's own try/except, now
            return namespace[name]

        setattr(module, "__getattr__", __getattr__)  # noqa: B010 (PEP 562)
        exec(self._code, namespace)  # upstream's module, less its optional import


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
