"""The whole suite on every Python Roomcast claims: `make test-pythons` runs `nox`.

Each session installs from the lock (requirements/test.lock, hashes checked), then runs what
`make test` runs: ruff, the import contracts, mypy and pytest. `make typecheck-pythons` (run by
CI after `make test`) runs mypy alone on the Pythons after the first: the lock resolves some
packages differently there (NumPy 2.5 from 3.12 on), and their type stubs with them."""

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


@nox.session(python=PYTHONS[1:])
def types(session: nox.Session) -> None:
    session.install("--require-hashes", "-r", "requirements/test.lock")
    session.install("--no-deps", "-e", ".")
    session.run("mypy")
