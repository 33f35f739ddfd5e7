# The two commands a newcomer needs: `make run` (serve the hooks locally) and `make test`.
# `make help` lists the others.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt typecheck contracts unit check bench crd docs lock clean

## help: list the targets
help:
	@awk -F': ' '/^## /{sub(/^## /, ""); split($$0, a, ": "); printf "  make %-10s %s\n", a[1], a[2]}' $(MAKEFILE_LIST)

# Built once, and again when requirements.lock or pyproject.toml changes. A cold install
# (nothing in pip's cache) downloads and installs the packages in about a minute.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "zen-flow needs Python 3.11 or later; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
			"Run e.g. 'make PYTHON=python3.12 $(MAKECMDGOALS)'."; exit 1; }
	@echo "Setting up $(VENV): $(shell grep -c '==' requirements.lock) pinned packages, about a minute when nothing is cached yet (pip is quiet meanwhile)..."
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	@touch $(STAMP)
	@echo "$(VENV) is ready."

## run: serve the hooks on 127.0.0.1:8080 (override with ZEN_FLOW_BIND)
run: $(STAMP)
	$(BIN)/zen-flow serve

## test: lint, type-check, check the import contract and run the whole test suite
test: lint typecheck contracts
	$(BIN)/pytest

## unit: the fast tests only (no server, kubectl or benchmark); seconds
unit: $(STAMP)
	$(BIN)/pytest -m "not slow"

## lint: ruff's lint rules and formatting
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## fmt: format and fix what ruff can
fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## typecheck: mypy --strict
typecheck: $(STAMP)
	$(BIN)/mypy

## contracts: the layers of the package (pyproject.toml, [tool.importlinter])
contracts: $(STAMP)
	$(BIN)/lint-imports

## crd: regenerate crds/ from the pydantic models
crd: $(STAMP)
	$(BIN)/python -m zen_flow.gen.crd > crds/workflow.zen.io_jobflows.yaml

## docs: regenerate docs/API.md from the pydantic models
docs: $(STAMP)
	$(BIN)/python -m zen_flow.gen.apidoc > docs/API.md

## bench: run the benchmarks and write docs/BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python bench/run.py --write docs/BENCHMARKS.md

## lock: re-pin every dependency (exact versions and hashes) from pyproject's ranges
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --output-file requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml requirements-build.in --generate-hashes \
		--python-version 3.11 --output-file requirements-runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
