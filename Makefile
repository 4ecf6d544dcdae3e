# The two commands a new user runs (as root, on a fresh Debian machine): `make run`, `make test`.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: deps run test lint lab-up lab-down clean

deps:
	@scripts/bootstrap.sh

## make run: bring the lab up and run a first real diagnostic from the VR.
run: deps
	$(BIN)/simvms up
	$(BIN)/simvms exec vr -- ping -c 3 198.51.100.80

## make test: the whole suite (lint, unit, lab end-to-end).
test: deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lab-up: deps
	$(BIN)/simvms up

lab-down: deps
	$(BIN)/simvms down
