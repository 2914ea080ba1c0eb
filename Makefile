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
PROXY_PORT ?=

NPM_TOOLS := tools/npm/node_modules/.bin
NPM_STAMP := tools/npm/node_modules/.installed
# Redocly CLI sends usage telemetry and checks npm for updates unless told not to: it is told.
REDOCLY   := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(NPM_TOOLS)/redocly
REDOC_TEMPLATE := tools/redoc/template.hbs  # Redocly's page, with a policy that loads nothing
CONTROL_SPEC := twilio_fake/control.yaml  # the fake's own control surface (not published)

.PHONY: help install run check test test-only postgres-check netns-check lint spec-check spec soak mutation contract contract-prism release-spec bench wrk wheel clean

help:
	@echo "make run    start the fake on http://$(HOST):$(PORT) (SQLite file $(DATABASE), demo data)"
	@echo "make check  the fast loop: lint, then the unit and API tests on SQLite (a minute or two)"
	@echo "make test   lint, then the tests: unit, api, contract (schemathesis, the kit), e2e (SDKs, the wheel)"
	@echo "make spec   validate and lint openapi.yaml; build dist/openapi.{yaml,json,html}"
	@echo "make contract  check a server against openapi.yaml (URL= USER= PASSWORD= SERVICE= NUMBERS= [SERVICE2= VOICE_ONLY= POOL_LIMIT=]; none: a fresh fake; COMPARE_URL=…: compare two servers)"
	@echo "make bench  the fake against the connexion floor, a bare route, Prism… under wrk; reports/bench.json"
	@echo "make soak   the reliability tests, long (races, SIGKILLs, hostile input, 10,000+ fuzzed requests), then make mutation"
	@echo "make wheel  build the wheel into dist/"
	@echo "variables:  HOST PORT DATABASE FIXTURES WORKERS PROXY_PORT (e.g. make run PORT=9000 FIXTURES=my.yaml)"
	@echo "            TEST_WORKERS (pytest-xdist workers of make test and make check; 0: none)"
	@echo "inner loop: make check, or .venv/bin/pytest tests/unit/test_x.py   (see CONTRIBUTING.md)"

# Two stamps: the runtime alone (enough for `make run`), and the test toolchain on top of it
# (`make install`, `make test`). A .venv whose Python is missing or older than 3.11 (made by
# another interpreter) is rebuilt from scratch by $(PYTHON); `make clean` removes it by hand.
# Python keeps the modules it compiles (in __pycache__ folders, .gitignored) for everything make
# runs, even where PYTHONDONTWRITEBYTECODE is set (this machine's CI sets it): without them each
# pytest process rewrote the asserts of 400 modules, and each kit process compiled the kit
# (docs/testing.md). pip still compiles all it installs: `--no-compile` saves 17 s of CPU once,
# but where the variable is set, `.venv/bin/pytest` run by hand would then compile the libraries
# in every process (2.5 s of CPU to import the main ones, against 0.9).
unexport PYTHONDONTWRITEBYTECODE
RUNTIME_STAMP := $(VENV)/.runtime-installed
PYTHON_OK := import sys; sys.exit(sys.version_info < (3, 11))

$(RUNTIME_STAMP): pyproject.toml
	@$(PYTHON) -c '$(PYTHON_OK)' 2>/dev/null || { echo "make: $(PYTHON) is not Python 3.11 or newer: run make again with PYTHON=python3.11 (or newer)"; exit 2; }
	@$(BIN)/python -c '$(PYTHON_OK)' 2>/dev/null || { echo "make: (re)building $(VENV) with $(PYTHON)"; $(PYTHON) -m venv --clear $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): $(RUNTIME_STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

# Pinned npm tools (Redocly CLI, Prism), installed from tools/npm/package-lock.json.
$(NPM_STAMP): tools/npm/package.json tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund --silent
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/twilio-fake --host $(HOST) --port $(PORT) --database '$(DATABASE)' --workers $(WORKERS) $(if $(FIXTURES),--fixtures '$(FIXTURES)') $(if $(PROXY_PORT),--proxy-port $(PROXY_PORT))

spec-check: $(STAMP)
	$(BIN)/openapi-spec-validator openapi.yaml $(CONTROL_SPEC)

# Validate and lint the contract, then build what is published: dist/openapi.yaml, .json, and
# dist/openapi.html (reference docs in one self-contained file that works offline and contacts
# no host: Redoc's scripts inlined, its telemetry off, and a Content-Security-Policy that lets
# the page load nothing from elsewhere, such as Redoc's logo from its CDN).
DIST ?= dist
spec: spec-check $(NPM_STAMP)
	$(REDOCLY) lint --format stylish openapi.yaml $(CONTROL_SPEC)
	mkdir -p $(DIST)
	$(REDOCLY) bundle openapi.yaml --output $(DIST)/openapi.yaml
	$(REDOCLY) bundle openapi.yaml --ext json --output $(DIST)/openapi.json
	$(REDOCLY) build-docs openapi.yaml --inlineBundle --template $(REDOC_TEMPLATE) --output $(DIST)/openapi.html

# After bumping info.version and adding a CHANGELOG entry: record openapi.yaml as published,
# the baseline that tests/unit/test_spec_compat.py holds later changes to.
release-spec: spec
	cp openapi.yaml published/openapi.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# wrk, the load generator of `make bench` (and of its smoke test), from Debian's packages.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

# PostgreSQL's server binaries (initdb, pg_ctl): the tests start a throwaway server with them.
PG_BIN ?= $(patsubst %/,%,$(firstword $(dir $(realpath $(shell command -v initdb 2>/dev/null))) $(sort $(wildcard /usr/lib/postgresql/*/bin/))))
export PG_BIN

postgres-check:
	@test -x "$(PG_BIN)/initdb" -a -x "$(PG_BIN)/pg_ctl" || { echo "make: PostgreSQL's initdb and pg_ctl not found: install PostgreSQL 15 (Debian: apt-get install postgresql-15) or set PG_BIN=<their directory>"; exit 2; }

# The proxy tests run in a network namespace of their own (ip), drive curl, and watch the fake
# for outbound connections (strace); `.ci/run` installs what is missing.
NETNS_TOOLS := ip curl strace
netns-check:
	@for tool in $(NETNS_TOOLS); do command -v $$tool >/dev/null || { echo "make: $$tool not found: the proxy tests need it (Debian: apt-get install iproute2 curl strace)"; exit 2; }; done

# The tests run on TEST_WORKERS pytest-xdist workers: more than the cores, since much of the
# suite waits on servers, SDKs and kit runs in other processes (docs/testing.md has the
# measurements). `--dist loadgroup` keeps each contract or e2e module on one worker
# (tests/conftest.py); TEST_WORKERS=0 runs them in one process, as a plain `pytest` does.
TEST_WORKERS ?= 4
XDIST := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

# The tests need the npm tools (Redocly builds the published files in a test; the Node SDK),
# PostgreSQL's binaries, and for the proxy tests a network namespace (root, as CI runs) with ip,
# curl and strace; wrk is only for `make bench`.
test-only: $(STAMP) $(NPM_STAMP) postgres-check netns-check
	$(BIN)/pytest $(XDIST)

test: lint test-only

# The fast loop before a commit: lint, then the rules and the API in-process on SQLite (no
# PostgreSQL, no server processes). `make test` runs everything, on both databases.
CHECK_WORKERS ?= 2
check: lint
	$(BIN)/pytest $(if $(filter-out 0,$(CHECK_WORKERS)),-n $(CHECK_WORKERS)) -q -m "unit or api" -k "not postgresql" tests/unit tests/api

# build/ and *.egg-info first: setuptools adds to build/ without removing what an earlier build
# left, and reads the old file list in *.egg-info.
wheel: $(STAMP)
	rm -rf build *.egg-info
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .

# The reliability tests run long: many more races, SIGKILLs, hostile inputs and >10,000
# schemathesis requests, the contract kit with 50 seeds. It stops by itself and prints what the
# server survived. A test runs up to ten times as long as in `make test` or more (the fuzzing
# of every operation, at ten times the examples), so the hang limit is 2 hours a test, not
# pyproject.toml's 15 minutes, which stopped that fuzzing part-way (2026-12-03).
SOAK_TIMEOUT ?= 7200
soak: $(STAMP) postgres-check
	SOAK=1 $(BIN)/pytest --timeout $(SOAK_TIMEOUT) tests/e2e/test_concurrency.py tests/e2e/test_crash_and_shutdown.py \
		tests/e2e/test_hostile_input.py tests/e2e/test_security.py tests/contract/test_contract.py \
		tests/e2e/test_control_surface.py tests/e2e/test_connections.py \
		"tests/contract/test_contract_kit.py::test_the_readme_forms_of_make_contract_pass_whatever_the_seed"
	$(MAKE) --no-print-directory mutation

# Mutation testing: mutmut changes the modules [tool.mutmut] lists in pyproject.toml (paging,
# faults, the journal, the pool's rules) one small change at a time and runs
# the unit and API tests (SQLite) against each; a change no test notices "survived", and the
# results say which (`.venv/bin/mutmut show <name>` shows one). Long: part of `make soak`.
MUTMUT_STAMP := $(VENV)/.mutmut-installed
$(MUTMUT_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,mutation]'
	touch $@

mutation: $(MUTMUT_STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# Check a server against the contract. With no URL, a fresh fake with the demo data is used.
#   make contract URL=http://127.0.0.1:8080 USER=AC… PASSWORD=… SERVICE=MG… NUMBERS=PN…,PN… \
#       [SERVICE2=MG…] [VOICE_ONLY=PN…] [POOL_LIMIT=N] [ACCOUNT=AC…]
#       [API_URL=https://api.twilio.com] [ALLOW_PURCHASES=1] [SEND_TO=+1…] [TEST_NUMBERS=1]
#       [FUZZ_SENDS=1]
#   knobs: MAX_EXAMPLES=50 SEED=… RATE=10/s READ_ONLY=1 SCENARIOS_ONLY=1 REPORTS=reports
#   compare with a second server: COMPARE_URL= COMPARE_USER= COMPARE_PASSWORD= COMPARE_SERVICE=
#       COMPARE_NUMBERS= [COMPARE_SERVICE2=] [COMPARE_VOICE_ONLY=] [COMPARE_POOL_LIMIT=]
#       [COMPARE_IGNORE=…] (see docs/contract-kit.md)
# USER is set by every shell, so it only counts when given on make's command line. The passwords
# reach the kit as exported variables, never on the recipe line, which make prints.
CONTRACT_USER := $(if $(filter command line,$(origin USER)),$(USER),)
ifneq ($(PASSWORD),)
contract: export TWILIO_CONTRACT_PASSWORD := $(PASSWORD)
endif
ifneq ($(COMPARE_PASSWORD),)
contract: export TWILIO_COMPARE_PASSWORD := $(COMPARE_PASSWORD)
endif
CONTRACT_ARGS := $(if $(URL),--url '$(URL)') $(if $(CONTRACT_USER),--user '$(CONTRACT_USER)') \
	$(if $(SERVICE),--service '$(SERVICE)') $(if $(NUMBERS),--numbers '$(NUMBERS)') \
	$(if $(SERVICE2),--service2 '$(SERVICE2)') $(if $(VOICE_ONLY),--voice-only '$(VOICE_ONLY)') \
	$(if $(POOL_LIMIT),--pool-limit '$(POOL_LIMIT)') \
	$(if $(ACCOUNT),--account '$(ACCOUNT)') $(if $(API_URL),--api-url '$(API_URL)') \
	$(if $(ALLOW_PURCHASES),--allow-purchases) \
	$(if $(SEND_TO),--send-to '$(SEND_TO)') $(if $(TEST_NUMBERS),--test-numbers) \
	$(if $(FUZZ_SENDS),--fuzz-sends) \
	$(if $(MAX_EXAMPLES),--max-examples '$(MAX_EXAMPLES)') $(if $(SEED),--seed '$(SEED)') \
	$(if $(RATE),--rate '$(RATE)') $(if $(READ_ONLY),--read-only) \
	$(if $(SCENARIOS_ONLY),--scenarios-only) \
	$(if $(REPORTS),--reports-dir '$(REPORTS)') $(if $(COMPARE_URL),--compare-url '$(COMPARE_URL)') \
	$(if $(COMPARE_USER),--compare-user '$(COMPARE_USER)') \
	$(if $(COMPARE_SERVICE),--compare-service '$(COMPARE_SERVICE)') \
	$(if $(COMPARE_SERVICE2),--compare-service2 '$(COMPARE_SERVICE2)') \
	$(if $(COMPARE_NUMBERS),--compare-numbers '$(COMPARE_NUMBERS)') \
	$(if $(COMPARE_VOICE_ONLY),--compare-voice-only '$(COMPARE_VOICE_ONLY)') \
	$(if $(COMPARE_POOL_LIMIT),--compare-pool-limit '$(COMPARE_POOL_LIMIT)') \
	$(if $(COMPARE_IGNORE),--compare-ignore '$(COMPARE_IGNORE)')
contract: $(STAMP)
	$(BIN)/twilio-fake contract $(strip $(CONTRACT_ARGS))

# The same kit against Stoplight Prism mocking the same spec: a record of what a stateless mock
# cannot do (see the README). Failures are expected; the target fails only if the run cannot.
contract-prism: $(STAMP) $(NPM_STAMP)
	$(BIN)/python tools/prism_contract.py

# The fake against Prism and a bare route under the same wrk load (wrk comes from Debian's
# packages; installed here when missing). A benchmark, not a test: it prints a table and
# writes reports/bench.json. Knobs: BENCH_SECONDS (per measurement), BENCH_LARGE (scale run),
# BENCH_ONLY=postgresql (the PostgreSQL rows alone), BENCH_ONLY=floor (the fake, the connexion
# floor and the bare route alone, in BENCH_ROUNDS interleaved rounds of the operations in
# BENCH_OPS, e.g. BENCH_OPS=create+delete BENCH_SECONDS=3 for a quick look), BENCH_ONLY=startup
# (start-up alone, beside Prism's and the bare route's).
BENCH_SECONDS ?= 10
BENCH_LARGE   ?= 1000000
BENCH_ONLY    ?= all
BENCH_OPS     ?= fetch,list,create+delete,send
BENCH_ROUNDS  ?= 3
bench: $(STAMP) $(NPM_STAMP) wrk postgres-check
	$(BIN)/python tools/bench.py --seconds $(BENCH_SECONDS) --large $(BENCH_LARGE) --only $(BENCH_ONLY) \
		--ops '$(BENCH_OPS)' --rounds $(BENCH_ROUNDS)

# Leaves the database of `make run` (twilio-fake.sqlite3) and the proxy's CA alone: the user's state.
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info build dist reports mutants tools/npm/node_modules
	@ls twilio-fake.sqlite3 >/dev/null 2>&1 && echo "kept twilio-fake.sqlite3 (the fake's data): delete it by hand to start afresh" || true
	@ls -d twilio-fake-proxy-ca >/dev/null 2>&1 && echo "kept twilio-fake-proxy-ca/ (the proxy's CA, which your clients trust): delete it by hand for a new one" || true
