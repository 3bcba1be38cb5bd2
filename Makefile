# Quickstart:  make demo   (the paper's L = 6 chain: trace distances to exact Redfield)
#              make test   (installs what it needs into .venv, then runs the test suite)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,examples]'
	touch $(BIN)/activate

.PHONY: venv demo test test-slow bench
venv: $(BIN)/activate

demo: venv
	$(BIN)/jaxredfield demo

test: venv
	$(BIN)/python -m pytest -q

test-slow: venv
	$(BIN)/python -m pytest -q -m slow

bench: venv
	$(BIN)/python benchmarks/bench_core.py
