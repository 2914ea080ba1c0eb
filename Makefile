# Everything runs from a virtual environment this Makefile builds itself (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

HOST     ?= 127.0.0.1
PORT     ?= 8080
DATABASE ?= twilio-fake.sqlite3
FIXTURES ?=
WORKERS  ?= 1

.PHONY: help install run test test-only lint spec-check soak clean

help:
	@echo "make run    start the fake on http://$(HOST):$(PORT) (SQLite file $(DATABASE), demo data)"
	@echo "make test   spec check, lint, unit, API, schemathesis contract and SDK end-to-end tests"
	@echo "make soak   the reliability tests, long (races, SIGKILLs, hostile input, 10,000+ fuzzed requests)"
	@echo "variables:  HOST PORT DATABASE FIXTURES WORKERS (e.g. make run PORT=9000 FIXTURES=my.yaml)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/twilio-fake --host $(HOST) --port $(PORT) --database '$(DATABASE)' --workers $(WORKERS) $(if $(FIXTURES),--fixtures '$(FIXTURES)')

spec-check: $(STAMP)
	$(BIN)/openapi-spec-validator openapi.yaml control.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-only: $(STAMP)
	$(BIN)/pytest

test: spec-check lint test-only

# The reliability tests run long: many more races, SIGKILLs, hostile inputs and >10,000
# schemathesis requests. It stops by itself and prints what the server survived.
soak: $(STAMP)
	SOAK=1 $(BIN)/pytest tests/test_concurrency.py tests/test_crash_and_shutdown.py \
		tests/test_hostile_input.py tests/test_security.py tests/test_contract.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info twilio-fake.sqlite3*
