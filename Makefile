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

.PHONY: run test test-long lint typecheck contracts check worker clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Roomcast needs Python 3.11 or newer: none of python3, python3.13, python3.12, python3.11 runs one (set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Roomcast needs Python 3.11 or newer (PYTHON=$(PYTHON) is $$($(PYTHON) --version 2>&1))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
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
	$(BIN)/pytest -q

# The long forms of the fuzz, fault and soak suites (thousands of cases, minutes each).
test-long: $(TEST_STAMP)
	$(BIN)/pytest -q --long

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
