# Quick start: `make run` serves the demo jobs; `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit ts types bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobdeck serve --config examples/demo.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests examples $(wildcard bench) clients/typescript/scripts
	$(BIN)/ruff format --check src tests examples $(wildcard bench) clients/typescript/scripts
	$(BIN)/lint-imports  # the dependency contracts of [tool.importlinter] in pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The TypeScript client (clients/typescript) is type-checked, built and tested inside `make test`, by
# tests/clients/test_typescript.py (npm ci when node_modules is missing). `make ts` runs only that; `make types`
# rewrites the committed openapi.json and src/schema.ts after an API change (the suite fails until they match).
ts: $(STAMP)
	$(BIN)/pytest -q tests/clients/test_typescript.py

types: $(STAMP)
	cd clients/typescript && { test -d node_modules || npm ci --no-audit --no-fund; }
	$(BIN)/python clients/typescript/scripts/openapi.py

# The benchmark suite (bench/): full sizes take about 15 minutes; BENCH_ARGS="--quick" for a shorter run.
# The API scenario drives the server with wrk when it is installed (apt-get install -y wrk), else with Python.
bench: $(STAMP)
	@command -v wrk >/dev/null || echo "bench: wrk not found, using the Python load generator (apt-get install -y wrk)"
	$(BIN)/python -m bench --json bench-results.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
