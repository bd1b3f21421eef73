# Caseloop — everyday commands. `make run` starts everything, `make test` runs the suite.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.installed
PYTHON3 ?= python3

# The venv's binaries come first for every recipe, so `shutil.which("temporal")` and
# `shutil.which("temporal-test-server")` find the ones pinned in pyproject.toml.
export PATH := $(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PYTEST_ARGS ?=
# What mypy checks: only the ones that exist and hold Python files.
MYPY_CANDIDATES := domain models core activities workflows services web cli api.py worker.py scripts bench
MYPY_TARGETS = $(foreach t,$(MYPY_CANDIDATES),$(if $(shell find $(t) -name '*.py' -print -quit 2>/dev/null),$(t)))

.PHONY: help venv run test lint fmt

help:
	@echo "make run    start Temporal dev server, worker, web app and demo data (Ctrl-C stops)"
	@echo "make test   run the test suite (extra pytest arguments: PYTEST_ARGS='-k inbox -x')"
	@echo "make lint   ruff check, ruff format --check, mypy, import contracts"
	@echo "make fmt    ruff format and ruff check --fix"
	@echo "make venv   create .venv and install the project (done by the others when needed)"

venv: $(STAMP)

# Re-installs only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e '.[dev]'
	@touch $@

run: venv
	python scripts/run.py

test: venv
	python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# All three always run (the whole picture in one go); any failure fails the target.
lint: venv
	@status=0; \
	echo "ruff check ."; ruff check . || status=1; \
	echo "ruff format --check ."; ruff format --check . || status=1; \
	echo "mypy $(MYPY_TARGETS)"; mypy $(MYPY_TARGETS) || status=1; \
	echo "lint-imports (layers, pure domain, workflows without I/O)"; lint-imports || status=1; \
	exit $$status

fmt: venv
	ruff format .
	ruff check --fix .
