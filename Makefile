# The two commands: `make run` and `make test`. Both create .venv on first use.
# The first interpreter that actually runs and is 3.11 or newer (a pyenv shim for a version
# that is installed but not selected exists yet fails to run, so each one is tried).
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	  $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# pytest-xdist processes for `make test` (a test file stays in one process); 0 runs serially.
# Three on two cores: much of the suite waits on the processes it starts (servers, workers,
# their readiness), and a third process fills that time.
TEST_WORKERS ?= 3

.PHONY: run test test-long test-pythons typecheck-pythons lock lint typecheck contracts check worker clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Roomcast needs Python 3.11 or newer: none of python3, python3.13, python3.12, python3.11 runs one (set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Roomcast needs Python 3.11 or newer (PYTHON=$(PYTHON) is $$($(PYTHON) --version 2>&1))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the lock files (every version pinned, every file's hash checked), so a
# fresh clone tests exactly what was verified; `make lock` refreshes them from pyproject.toml.
$(STAMP): requirements/runtime.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(TEST_STAMP): requirements/test.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@ $(STAMP)

run: $(STAMP)
	LOG_JSON=$${LOG_JSON:-false} $(BIN)/roomcast serve

worker: $(STAMP)
	$(BIN)/roomcast worker

test: $(TEST_STAMP)
	@command -v redis-server >/dev/null || { echo "redis-server is missing: install it with 'apt-get install redis-server' (Debian/Ubuntu) or 'brew install redis' (macOS)"; exit 1; }
	@command -v promtool >/dev/null || { echo "promtool is missing (it checks ops/prometheus/alerts.yml): install it with 'apt-get install prometheus' (Debian/Ubuntu) or 'brew install prometheus' (macOS)"; exit 1; }
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=20

# The long forms of the fuzz, fault and soak suites (thousands of cases, minutes each).
test-long: $(TEST_STAMP)
	$(BIN)/pytest -q --long

# The whole suite on Python 3.11, 3.12 and 3.13 (nox; each installs from the lock). Under
# pyenv, the installed 3.11-3.13 versions are made visible to nox.
NOX = PYENV_VERSION=$${PYENV_VERSION:-$$(command -v pyenv >/dev/null && pyenv versions --bare | grep -E '^3\.1[123]\.[0-9]+$$' | paste -sd: -)} \
	  $(BIN)/nox
test-pythons: $(TEST_STAMP)
	$(NOX)

# mypy alone on Python 3.12 and 3.13, whose locked packages (and type stubs) differ from
# 3.11's; CI runs it after `make test`.
typecheck-pythons: $(TEST_STAMP)
	$(NOX) -s types

# Refresh the lock files from pyproject.toml: one resolution valid on every Python from 3.11
# (uv's universal mode), with hashes.
LOCK = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(LOCK) -o requirements/runtime.lock
	$(LOCK) --extra test -o requirements/test.lock

# The code is formatted by hand (line length and layout checked by `ruff check`), not by
# ruff's formatter, so there is no `ruff format --check` here.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

contracts: $(TEST_STAMP)
	$(BIN)/lint-imports

# What every commit must pass: lint, import contracts and types, without the tests.
check: lint contracts typecheck

clean:
	rm -rf $(VENV) .roomcast .pytest_cache .mypy_cache .ruff_cache
