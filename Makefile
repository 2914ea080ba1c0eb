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

.PHONY: help install run test test-only lint spec-check clean

help:
	@echo "make run    start the fake on http://$(HOST):$(PORT) (SQLite file $(DATABASE), demo data)"
	@echo "make test   spec check, lint, unit, API, schemathesis contract and SDK end-to-end tests"
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info twilio-fake.sqlite3*
