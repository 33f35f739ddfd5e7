# The two commands a newcomer needs: `make run` (serve the hooks locally) and `make test`.
# `make e2e` runs the end-to-end suite on a real control plane (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint fmt typecheck unit bench crd docs clean e2e bench-e2e

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## run: serve the hooks on 127.0.0.1:8080 (override with ZEN_FLOW_BIND)
run: $(STAMP)
	$(BIN)/zen-flow serve

## test: lint, type-check and run the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## crd: regenerate crds/ from the pydantic models
crd: $(STAMP)
	$(BIN)/python -m zen_flow.crd > crds/workflow.zen.io_jobflows.yaml

## docs: regenerate docs/API.md from the pydantic models
docs: $(STAMP)
	$(BIN)/python -m zen_flow.apidoc > docs/API.md

## bench: run the benchmarks and write docs/BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python bench/run.py --write docs/BENCHMARKS.md

## e2e: the end-to-end suite on a real control plane (needs Go, haproxy, METACONTROLLER_SRC)
e2e: $(STAMP)
	bash e2e/build.sh >/dev/null
	$(BIN)/pytest e2e -v

## bench-e2e: figures on a real control plane, written into docs/BENCHMARKS.md
bench-e2e: $(STAMP)
	bash e2e/build.sh >/dev/null
	$(BIN)/python -m e2e.bench --write docs/BENCHMARKS.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
