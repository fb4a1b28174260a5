# Quick start: `make run` serves the demo jobs; `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/jobdeck serve --config examples/demo.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests examples $(wildcard bench)
	$(BIN)/ruff format --check src tests examples $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The benchmark suite (bench/): full sizes take about 15 minutes; BENCH_ARGS="--quick" for a shorter run.
# The API scenario drives the server with wrk when it is installed (apt-get install -y wrk), else with Python.
bench: $(STAMP)
	@command -v wrk >/dev/null || echo "bench: wrk not found, using the Python load generator (apt-get install -y wrk)"
	$(BIN)/python -m bench --json bench-results.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
