"""The lock files answer pyproject.toml: every declared requirement is pinned, on every Python
Roomcast claims, at a version its bounds admit (a stale lock fails here; `make lock` mends it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = ("3.11", "3.12", "3.13")
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(lock: Path) -> dict[str, list[tuple[Version, Marker | None]]]:
    found: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name, version, marker = match.groups()
            found.setdefault(canonicalize_name(name.split("[")[0]), []).append(
                (Version(version), Marker(marker) if marker else None))
    return found


def declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(text) for text in names]


def environment(python: str) -> dict[str, str]:
    return {"python_version": python, "python_full_version": f"{python}.0",
            "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
            "platform_machine": "x86_64", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "extra": ""}


@pytest.mark.parametrize(("lock", "extra"), [("runtime.lock", None), ("test.lock", "test")])
@pytest.mark.parametrize("python", PYTHONS)
def test_every_declared_requirement_is_pinned_within_its_bounds(
        lock: str, extra: str | None, python: str) -> None:
    locked = pins(ROOT / "requirements" / lock)
    env = environment(python)
    for requirement in declared(extra):
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue
        versions = [version for version, marker in locked.get(
            canonicalize_name(requirement.name), []) if marker is None or marker.evaluate(env)]
        assert versions, f"{requirement.name} is not in requirements/{lock}: run `make lock`"
        assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), (
            f"requirements/{lock} pins {requirement.name} {versions} outside {requirement}: "
            "run `make lock`")
