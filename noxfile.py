"""The whole suite on every Python Roomcast claims: `make test-pythons` runs `nox`.

Each session installs from the lock (requirements/test.lock, hashes checked), then runs what
`make test` runs: ruff, the import contracts, mypy and pytest."""

from __future__ import annotations

import nox

PYTHONS = ["3.11", "3.12", "3.13"]
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("--require-hashes", "-r", "requirements/test.lock")
    session.install("--no-deps", "-e", ".")
    session.run("ruff", "check", ".")
    session.run("lint-imports")
    session.run("mypy")
    session.run("pytest", "-q", "-n", "2", "--dist", "loadfile", *session.posargs)
