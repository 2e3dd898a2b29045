# `make demo` and `make test` each build .venv on first use (all extras), then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-quick test test-quick lint bench install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/nivalis demo --out demo-out

demo-quick: $(STAMP)
	$(BIN)/nivalis demo --quick --out demo-out

# every test, the `slow` ones included, on one worker per core (each test runs one torch thread, tests/conftest.py)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

# the quick loop while editing: without the tests marked `slow`
test-quick: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-out .pytest_cache
