# Two commands a new user needs: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-tiny test test-integration lint bench clean

$(STAMP): pyproject.toml scripts/install-torch.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	bash scripts/install-torch.sh $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)  ## the study's three cases with the real models (needs their weights)
	$(BIN)/maskedit demo --out demo-out

demo-tiny: $(STAMP)  ## the same plumbing with tiny random models (no weights needed)
	$(BIN)/maskedit demo --models tiny --out demo-out-tiny

test: $(STAMP)  ## the default suite: everything but the browser, Ray and multi-process checks
	$(BIN)/python -m pytest -q -n 2

test-integration: $(STAMP)  ## the browser (Debian chromium), Ray, multi-process and long checks
	$(BIN)/python -m pytest -q -m "integration or slow"

lint: $(STAMP)  ## ruff checks everything; src and benchmarks are formatted (tests keep one-line tables)
	$(BIN)/ruff check src tests benchmarks && $(BIN)/ruff format --check src benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo-out demo-out-tiny
