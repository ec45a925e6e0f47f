# kasparro: `make up` runs the whole stack locally, `make test` runs every test. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Optional, untracked settings (documented in .env.example); the environment overrides them.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' .env)
endif

VENV := .venv
PYTHON := $(VENV)/bin/python
STACK := scripts/stack.sh

.PHONY: help deps venv build up down etl status clean test unit fuzz soak integration system-test schema bench bench-scale bench-vacuum install deb key-add key-revoke smoke cluster cluster-down cluster-status

help:
	@echo "make up      install what is missing, build, start PostgreSQL + ETL + responders + nginx on https://localhost:8443"
	@echo "             (REPLAY=1: the API sources read a local server replaying ../shared/samples)"
	@echo "make down    stop everything make up started (data is kept)"
	@echo "make etl     run one ETL pass against the local stack"
	@echo "make status  show the ETL's sources, runs and checkpoints"
	@echo "make test    build and run every test (own PostgreSQL, nginx and responders in a temporary directory)"
	@echo "make system-test  the system suite: the previous release's package upgraded to this one under systemd, a short soak"
	@echo "make schema  write docs/schema.sql, the schema after every migration"
	@echo "make fuzz    libFuzzer on every hand-written parser, FUZZ_SECONDS (default 600) per target, then a report"
	@echo "make soak    DURATION (default 2h) of ETL every 30 s, 32 clients and faults in a stack of its own, then a report"
	@echo "make smoke   PASS/FAIL checks against the running stack (ingestion, endpoints, kill -9 recovery, rate limits)"
	@echo "make bench   wrk against the running stack, next to a static file of the same size"
	@echo "make bench-scale  ROWS (default 3,000,000) synthetic CSV rows through the ETL in a stack of its own, then the API at that size"
	@echo "make bench-vacuum heap fetches of the newest day with autovacuum alone, before and after migration 18 (synthetic rows)"
	@echo "make install install binaries, systemd units, nginx site (DESTDIR, PREFIX honoured)"
	@echo "make deb     build .build-deb/kasparro_VERSION_amd64.deb (checked with lintian)"
	@echo "make cluster three PostgreSQL nodes under Patroni, two web nodes and HAProxy on https://localhost:9443 (SYNC=1: synchronous replication)"
	@echo "make cluster-down    stop the cluster and remove it (.cluster/); make cluster-status: its nodes"
	@echo "make clean   stop and remove .run/ (all local data)"

deps:
	@$(STACK) deps

venv: deps
	@[ -x $(PYTHON) ] || python3 -m venv $(VENV)
	@$(PYTHON) -c 'import pytest, requests, jsonschema, schemathesis, prometheus_client, selenium, yaml, brotli' 2>/dev/null || $(PYTHON) -m pip install -q --disable-pip-version-check pytest requests jsonschema schemathesis==4.32.5 prometheus-client selenium pyyaml brotli

build: deps
	swift build -c release --static-swift-stdlib
	scripts/docs-ui.sh .build-docs

up: build
	@$(STACK) up
	@[ -z "$${REPLAY:-}" ] || echo "REPLAY=1: CoinPaprika and CoinGecko were read from the local fixture server (../shared/samples)"
	@echo
	@$(STACK) info

down:
	@$(STACK) down

etl:
	@$(STACK) etl

# The product beyond one machine, on this one (docs/operations.md, "A cluster").
cluster: build
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

cluster-status:
	@scripts/cluster.sh status

status:
	@. <($(STACK) env) && DATABASE_URL=$$ETL_DATABASE_URL PGPASSFILE=$$PGPASSFILE .build/release/kasparro-etl status
	@$(STACK) pg-status

bench: up
	python3 scripts/bench_etl.py
	python3 scripts/bench.py

# Synthetic data only in a stack and database of its own (never in what `make up` serves).
bench-scale: build venv
	BIN_DIR=$(CURDIR)/.build/release ROWS=$(or $(ROWS),3000000) $(PYTHON) scripts/bench_scale.py

# The schema after every migration, from an empty database in a throwaway cluster.
# Heap fetches of the newest day with autovacuum alone, before and after migration 18 (SYNTHETIC rows).
bench-vacuum: build venv
	BIN_DIR=$(CURDIR)/.build/release $(PYTHON) scripts/bench_vacuum.py

schema: build venv
	BIN_DIR=$(CURDIR)/.build/release $(PYTHON) scripts/schema.py

# Checks the running `make up` system end to end (PASS/FAIL per check).
smoke:
	@python3 scripts/smoke.py

# Dev stack keys: make key-add NAME=alice [TIER=high], make key-revoke NAME=alice (prints the key once).
key-add:
	@$(STACK) keys-admin add "$(NAME)" $(or $(TIER),standard)

key-revoke:
	@$(STACK) keys-admin revoke "$(NAME)"

# Honours DESTDIR and PREFIX (default /usr/local); see README "Operations".
install: build
	DESTDIR="$(DESTDIR)" PREFIX="$(or $(PREFIX),/usr/local)" scripts/install.sh

# The Debian package, from the release binaries; lintian must report no error.
deb: build
	rm -f .build-deb/kasparro_*_amd64.deb
	scripts/build-deb.sh .build-deb
	lintian --fail-on error .build-deb/kasparro_*_amd64.deb

clean: down
	rm -rf .run

unit:
	swift build --build-tests
	swift test --skip-build --disable-swift-testing

integration: deb venv
	BIN_DIR=$(CURDIR)/.build/release $(PYTHON) -m pytest -q -p no:cacheprovider Tests/integration

test: deps venv
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10 FUZZ_JOBS=7
	$(MAKE) --no-print-directory integration

# Hours of load and faults on the whole stack, in a stack of its own (SYNTHETIC data only).
soak: build venv
	BIN_DIR=$(CURDIR)/.build/release DURATION=$(or $(DURATION),2h) $(PYTHON) scripts/soak.py

# The parsers' fuzz targets (Tests/fuzz), built apart from the product in .build-fuzz.
fuzz: deps
	python3 scripts/fuzz.py --seconds $(or $(FUZZ_SECONDS),600) --jobs $(or $(FUZZ_JOBS),$(shell nproc))

# Builds the previous release's package from its commit (cached) and upgrades it to this one;
# then 90 s of `make soak` (kept out of `make test` for its 15 minutes).
system-test: deb venv
	BIN_DIR=$(CURDIR)/.build/release $(PYTHON) -m pytest -q -p no:cacheprovider Tests/system
