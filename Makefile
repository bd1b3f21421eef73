# Caseloop — everyday commands. `make run` starts everything, `make test` runs the suite.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.installed
PYTHON3 ?= python3
# The interpreter .venv is made from (looked up before .venv/bin joins PATH).
BASE_PYTHON := $(shell command -v $(PYTHON3))

# uv installs .venv from uv.lock. It comes from PyPI through pip (no other download), into .uv/
# (not committed); the version must match [tool.uv] required-version in pyproject.toml.
UV_VERSION := 0.13.9
UV_HOME := $(CURDIR)/.uv
UV := $(UV_HOME)/bin/uv
UV_STAMP := $(UV_HOME)/.uv-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

# The venv's binaries come first for every recipe, so `shutil.which("temporal")` and
# `shutil.which("temporal-test-server")` find the ones pinned in pyproject.toml.
export PATH := $(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PYTEST_ARGS ?=
# What mypy checks: only the ones that exist and hold Python files.
MYPY_CANDIDATES := domain models core activities workflows services web cli api.py worker.py scripts bench
MYPY_TARGETS = $(foreach t,$(MYPY_CANDIDATES),$(if $(shell find $(t) -name '*.py' -print -quit 2>/dev/null),$(t)))

.PHONY: help venv lock run test lint fmt messages screenshots

help:
	@echo "make run    start Temporal dev server, worker, web app and demo data (Ctrl-C stops)"
	@echo "make test   run the test suite (extra pytest arguments: PYTEST_ARGS='-k inbox -x'; TEST_PROCESSES=0: one process)"
	@echo "make lint   ruff check, ruff format --check, mypy, import contracts, deptry"
	@echo "make fmt    ruff format and ruff check --fix"
	@echo "make venv   create .venv from uv.lock (done by the others when needed)"
	@echo "make lock   re-resolve uv.lock after changing dependencies in pyproject.toml"
	@echo "make messages  re-extract the pages' strings into the catalogs and compile them"
	@echo "make screenshots  the README's screenshots (docs/screenshots/) from the demo data"

venv: $(STAMP)

$(UV_STAMP):
	@test -n "$(BASE_PYTHON)" || { echo "$(PYTHON3) not found (Python 3.11+ is needed)" >&2; exit 1; }
	rm -rf $(UV_HOME)
	PIP_ROOT_USER_ACTION=ignore $(BASE_PYTHON) -m pip install --quiet --target $(UV_HOME) uv==$(UV_VERSION)
	@touch $@

# Re-installs only when pyproject.toml or uv.lock is newer than the stamp. --locked: a
# pyproject.toml changed without `make lock` fails here instead of installing something else.
# The project itself is installed editable; dev extras include the Temporal test server.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	@test -x $(VENV)/bin/python || $(UV) venv --python $(BASE_PYTHON) $(VENV)
	$(UV) sync --locked --extra dev
	@touch $@

lock: $(UV_STAMP)
	$(UV) lock

run: venv
	python scripts/run.py

# Side by side in TEST_PROCESSES processes (pytest-xdist), a whole test file to one process, so a
# module's shared servers and browser stay in it; most of the suite waits on servers, timers and
# subprocesses, not on a core. TEST_PROCESSES=0 runs it in this one process.
TEST_PROCESSES ?= 3
test: venv
	python -m pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

# All of them always run (the whole picture in one go); any failure fails the target.
lint: venv
	@status=0; \
	echo "ruff check ."; ruff check . || status=1; \
	echo "ruff format --check ."; ruff format --check . || status=1; \
	echo "mypy $(MYPY_TARGETS)"; mypy $(MYPY_TARGETS) || status=1; \
	echo "lint-imports (layers, pure domain, workflows without I/O)"; lint-imports || status=1; \
	echo "deptry ."; deptry . || status=1; \
	exit $$status

fmt: venv
	ruff format .
	ruff check --fix .

# The pages' translations: strings from web/ (babel.cfg) into web/locale/messages.pot, merged
# into each language's .po (translate the new empty msgstr there), compiled to the .mo the app
# loads. Both .po and .mo are committed: a clone and the wheel need no build step.
messages: venv
	pybabel extract --no-location --sort-output --omit-header -F babel.cfg -k N_ \
		-o web/locale/messages.pot .
	pybabel update --no-fuzzy-matching --ignore-obsolete -i web/locale/messages.pot -d web/locale
	pybabel compile -d web/locale --statistics

# The README's screenshots (inbox, case page, dashboard) from the demo data, in Chromium.
screenshots: venv
	README_SCREENSHOTS=$(CURDIR)/docs/screenshots python -m pytest -q -p no:cacheprovider \
		tests/reports/test_screenshot.py -k readme_screenshots
