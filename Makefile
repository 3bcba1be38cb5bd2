# Quickstart:  make demo   (the paper's L = 6 chain: trace distances to exact Redfield)
#              make test   (installs what it needs into .venv, then runs the test suite)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# test processes (pytest-xdist, one test file per process at a time): XLA compiles on one core,
# so two processes halve the suite's wall time on 2 cores (measured: 1060 s -> 752 s);
# each process peaks at a few GB of memory
TEST_WORKERS ?= 2

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,examples]'
	touch $(BIN)/activate

.PHONY: venv demo test test-slow bench docs
venv: $(BIN)/activate

demo: venv
	$(BIN)/jaxredfield demo

test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-slow: venv
	$(BIN)/python -m pytest -q -m slow -n $(TEST_WORKERS) --dist loadfile

bench: venv
	$(BIN)/python benchmarks/bench_core.py

# the documentation site (mkdocs-material + mkdocstrings) into site/, strict (mkdocs.yml)
docs: venv
	$(BIN)/pip install -q -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
