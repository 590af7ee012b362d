# leadflow: `make run` serves it with demo data, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint check clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Set up, migrate, load demo data if the database is empty, serve on http://127.0.0.1:8000 with a worker.
run: install
	$(BIN)/leadflow migrate --no-input -v 0
	$(BIN)/leadflow demo --if-empty
	$(BIN)/leadflow serve --host 127.0.0.1 --port 8000

## The test suite (SQLite by default; set DATABASE_URL to run it on PostgreSQL).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

## Linters, types, layer contracts and the migrations check.
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	LEADFLOW_DATA_DIR=$$(mktemp -d) $(BIN)/leadflow makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var
