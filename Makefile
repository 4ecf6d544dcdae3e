# The two commands a new user runs (as root, on a fresh Debian machine): `make run`, `make test`.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: deps run down test test-unit validate lint lab-up lab-down bench bench-scale compose-test

deps:
	@scripts/bootstrap.sh

## make run: the local stack (lab + embedded AWS + API on 127.0.0.1:3000), a first real diagnostic
## through the API (ping from the VR to the lab's web server), then what to try next.
run: deps
	$(BIN)/sysvmdiag local up
	@echo
	@echo "First diagnostic: ping from the virtual router r-4-VM to the web server, through the API:"
	$(BIN)/sysvmdiag run --vm r-4-VM --test ping --dest 198.51.100.80
	@echo
	@$(BIN)/sysvmdiag local hints

## make down: stop the local stack and tear the lab down.
down: deps
	$(BIN)/sysvmdiag local down

## make test: the whole suite (lint, template validation), tier by tier: unit (with its coverage gate),
## integration (moto; the benchmarks' own tests), lab (root, namespaces, sshd), then the compose lab's.
UNIT_COVERAGE := --cov=sysvmdiag.pipeline --cov=sysvmdiag.policy --cov=sysvmdiag.runner \
	--cov=sysvmdiag.errors --cov=sysvmdiag.toolargs --cov=sysvmdiag.parsers --cov-fail-under=90
test: deps validate
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit $(UNIT_COVERAGE) --cov-report=term:skip-covered
	$(BIN)/python -m pytest tests/integration benchmarks/tests tests/lab
	$(MAKE) --no-print-directory compose-test

## make test-unit: the unit tier alone (no moto, no lab, no root, sockets off).
test-unit: deps
	$(BIN)/python -m pytest tests/unit $(UNIT_COVERAGE)

## make compose-test: the same zone in Docker containers (Debian's docker.io and docker-compose, a
## dockerd started and stopped here if none runs, the lab image built offline on a debootstrapped base
## cached in the engine and under /var/cache/sysvmdiag), with the API's end-to-end cases against it.
compose-test: deps
	@scripts/bootstrap.sh --compose
	$(BIN)/python -m pytest -m compose tests/compose

## make validate: template.yaml through cfn-lint and `sam validate --lint`.
validate:
	@scripts/bootstrap.sh --sam
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam validate --lint --template template.yaml

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lab-up: deps
	$(BIN)/simvms up

lab-down: deps
	$(BIN)/simvms down

## make bench: benchmarks against OpenSSH on the local stack and lab (cold/warm requests, imports,
## policy rate, DynamoDB calls, 100 concurrent requests); prints the goals and the table, writes benchmarks/results/.
## The limits are raised for the load only if this starts the stack (an already running one keeps its own).
## Options of the run: make bench BENCH_ARGS="--cold 5 --warm 11" (see benchmarks/README.md).
BENCH_LIMITS_JSON ?= {"admin": {"concurrentJobs": 128, "requestsPerMinute": 4000}, "vmConcurrentRuns": 20}
BENCH_ARGS ?=
bench: deps
	LIMITS_JSON='$(BENCH_LIMITS_JSON)' $(BIN)/sysvmdiag local up
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

## make bench-scale: issue 12's scale benchmark, no lab needed: generated zones of 100 to 20,000 networks
## loaded into one moto server on loopback (load time, largest item), then decisions interleaved across
## the sizes (store read + policy, DynamoDB calls each); a JSON line per size, benchmarks/results/scale.*.
## Options of the run: make bench-scale SCALE_ARGS="--sizes 100,1000 --decisions 100" (a few minutes as is).
SCALE_ARGS ?=
bench-scale: deps
	$(BIN)/python -m benchmarks.scale $(SCALE_ARGS)
