# The two commands in the README do all of the set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 4010

.PHONY: serve test lint typecheck unit clean

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

test: $(STAMP) lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
