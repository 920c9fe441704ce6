# kjflow: `make run` for the product on the embedded default, `make test` for the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app workflow

.PHONY: run test lint fmt worker beat migrate seed sysdeps sysdeps-docs services venv clean vendor \
        test-unit test-integration test-browser test-contract bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,dev,bench]'
	touch $@

venv: $(STAMP)

# Bootstrap, htmx and ECharts from the npm registry at pinned versions, checked against
# their integrity, into templates/static/vendor/ (committed: the product serves them itself).
vendor:
	bash .ci/vendor.sh

sysdeps-docs:
	bash .ci/sysdeps.sh docs

sysdeps:
	bash .ci/sysdeps.sh all

services:
	bash .ci/services.sh

migrate: venv
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed --demo

# Web server on http://127.0.0.1:5000 and a Celery worker (with beat) on the embedded
# filesystem broker, both on instance/kjflow.sqlite; their logs in instance/logs/, the
# address and the demo logins printed last once both are ready. Ctrl-C stops both.
run: venv sysdeps-docs migrate
	$(FLASK) seed --demo --quiet
	$(BIN)/kjflow devserver --host 127.0.0.1 --port 5000

worker: venv
	$(BIN)/celery -A worker worker --loglevel=INFO

beat: venv
	$(BIN)/celery -A worker beat --loglevel=INFO

lint: venv
	$(BIN)/ruff check workflow forms states worker tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff check --fix workflow forms states worker tests bench

# The unit tier (embedded SQLite, a database per process) in two processes, a test file
# to each at a time: on two cores it takes about half as long.
UNIT_PROCESSES ?= 2
UNIT := $(BIN)/pytest -n $(UNIT_PROCESSES) --dist loadfile tests/unit

test-unit: venv
	$(UNIT) --durations=15

test-integration: venv services
	$(BIN)/pytest tests/integration

test-browser: venv
	$(BIN)/pytest tests/browser

# Schemathesis against the live app (gunicorn on a seeded embedded instance), as an officer
# and as a researcher: every answer documented by /api/openapi.json.
test-contract: venv
	$(BIN)/pytest tests/contract

# Every tier runs; a tier whose service is missing fails, it is never skipped.
test: venv sysdeps services lint
	$(UNIT) --durations=15
	$(BIN)/pytest --durations=15 tests/integration tests/browser tests/contract

bench: venv services
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
