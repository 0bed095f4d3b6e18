# The two commands in the README do all of the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 4010

.PHONY: serve test lint client-deps stress bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

serve: $(STAMP)
	$(BIN)/recoup-mock serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check mockserver contracts tests
	$(BIN)/mypy

# Node packages (the real `ai` client in 5.x, 6.x, 7.x) and Debian's chromium for the browser test.
client-deps:

test: $(STAMP) lint client-deps
	$(BIN)/pytest

# The long reliability runs (the short versions run under `make test`).
stress: $(STAMP)
	$(BIN)/pytest -m stress tests/reliability

# Benchmarks: writes bench/results/latest.{md,json,png}.
bench: $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
