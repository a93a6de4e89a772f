# unilabel — the two commands: `make run` and `make test` (each creates .venv and installs first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[ml,dev]'
	touch $(STAMP)

install: $(STAMP)

## Migrate the embedded SQLite database, load the demo content (taxonomies, mappings, a synthetic
## dataset and a tiny teacher made locally), serve on http://$(HOST):$(PORT)
run: install
	$(BIN)/unilabel db upgrade
	$(BIN)/unilabel demo load
	$(BIN)/unilabel demo ml
	$(BIN)/unilabel serve --host $(HOST) --port $(PORT)

## The whole test suite (unit, API, integration against local PostgreSQL/Redis, browser e2e)
test: install
	$(BIN)/python -m pytest

## Only the fast tests (no integration/e2e/slow markers)
test-fast: install
	$(BIN)/python -m pytest -m "not integration and not e2e and not slow"

lint: install
	$(BIN)/ruff check app worker tests benchmarks
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache
