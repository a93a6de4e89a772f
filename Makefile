# unilabel — the two commands: `make run` and `make test` (each creates .venv and installs first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# Test processes (pytest-xdist, one file per process at a time); 0 (the default, what CI runs) runs
# the suite in one process. PYTEST_WORKERS=2 takes ~16 min instead of ~27 on 2 cores (docs/benchmarks.md).
PYTEST_WORKERS ?= 0

.PHONY: install run test test-fast lint bench clean

# Progress lines ("==> ...") say what each slow step does; pip shows its own progress for the
# long install (torch and friends: minutes on a first run).
$(STAMP): pyproject.toml
	@echo "==> [install 1/3] Python virtual environment in $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [install 2/3] upgrading pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> [install 3/3] installing unilabel with its ML and dev dependencies (a few minutes on a first run; pip's progress follows)"
	$(BIN)/python -m pip install --progress-bar on -e '.[ml,dev]'
	touch $(STAMP)
	@echo "==> installed"

install: $(STAMP)

## Migrate the embedded SQLite database, load the demo content (taxonomies, mappings, a synthetic
## dataset and a tiny teacher made locally), serve on http://$(HOST):$(PORT)
## The one-time login URL is the last thing printed (serve waits for the web app and its worker).
run: install
	@echo "==> [run 1/4] migrating the database"
	$(BIN)/unilabel db upgrade
	@echo "==> [run 2/4] loading the demo taxonomies and mappings"
	$(BIN)/unilabel demo load
	@echo "==> [run 3/4] making the ML demo (synthetic dataset, tiny teacher, demo experiment; made locally)"
	$(BIN)/unilabel demo ml
	@echo "==> [run 4/4] starting the server and its worker on http://$(HOST):$(PORT) (the login URL follows)"
	$(BIN)/unilabel serve --host $(HOST) --port $(PORT)

## The whole test suite (unit, API, integration against local PostgreSQL/Redis, browser e2e)
test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

## Only the fast tests (no integration/e2e/slow markers)
test-fast: install
	$(BIN)/python -m pytest -m "not integration and not e2e and not slow"

lint: install
	$(BIN)/ruff check app worker tests benchmarks
	$(BIN)/lint-imports

## The quick benchmarks (minutes on a CPU); the long ones and their options: benchmarks/README.md
bench: install
	$(BIN)/python benchmarks/bench_priors.py --repeats 5
	$(BIN)/python benchmarks/bench_pseudo_label.py --images 6 --repeats 3 --workers 0
	$(BIN)/python benchmarks/bench_tta_memory.py
	$(BIN)/python benchmarks/bench_edge_toggle.py
	$(BIN)/python benchmarks/bench_demo_job.py --repeat 3
	$(BIN)/python benchmarks/suggestions_names.py

clean:
	rm -rf $(VENV) var .pytest_cache
