"""The package map's rules import-linter can't say: api/ and workers/ reach realtime/ only
through realtime.emitter, and only realtime/wire/ asks python-socketio and python-engineio for
what they keep undocumented or private."""

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


# What python-socketio and python-engineio keep undocumented or private: asked only in
# realtime/wire/ (UPSTREAM.md lists the names the rest uses instead).
REACH_INS = {"manager", "eio", "environ", "_send_packet", "_handle_connect", "eio_sid_from_sid",
             "sid_from_eio_sid", "is_connected", "get_participants", "_async"}


def test_only_the_wire_package_reaches_into_socketio_and_engineio() -> None:
    offenders = []
    for package in ("api", "realtime", "workers", "roomcast"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_relative_to(ROOT / "realtime" / "wire"):
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}"
                          for node in ast.walk(tree)
                          if isinstance(node, ast.Attribute) and node.attr in REACH_INS]
    assert offenders == []
