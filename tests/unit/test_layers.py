"""The package map's one rule import-linter can't say: api/ and workers/ reach realtime/ only
through realtime.emitter."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_api_and_workers_use_only_the_emitter_from_realtime() -> None:
    offenders = []
    for package in ("api", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "realtime" and len(parts) > 1 and parts[1] != "emitter":
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
