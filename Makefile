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
	$(BIN)/recoup-mock serve --watch --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check mockserver contracts tests
	$(BIN)/mypy

# Node packages (the real `ai` client in 5.x, 6.x, 7.x, WorkflowChatTransport and playwright-core in
# tests/client; ai and esbuild in examples/browser; React, @ai-sdk/react and Vite in examples/react), each
# `npm ci` only when its lockfile is newer than its install, and Debian's chromium for the browser tests,
# only when /usr/bin/chromium is missing.
NODE_PROJECTS := tests/client examples/browser examples/react

client-deps:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "client-deps: node (>= 20) and npm are needed" >&2; exit 1; }
	@for d in $(NODE_PROJECTS); do \
	  [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] || (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	done
	@test -x /usr/bin/chromium || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) lint client-deps
	$(BIN)/pytest

# The long variants (reliability runs, contract and fuzzing runs at their full counts), wherever they are;
# the short versions run under `make test`.
stress: $(STAMP)
	$(BIN)/pytest -m stress

# Benchmarks: writes bench/results/latest.{md,json,png}.
bench: $(STAMP)
	@test -f $(STAMP).bench || { $(BIN)/python -m pip install --quiet -e '.[bench]' && touch $(STAMP).bench; }
	@command -v wrk >/dev/null 2>&1 || { S=$$([ "$$(id -u)" = 0 ] || echo sudo); $$S apt-get update -qq && $$S apt-get install -y -qq wrk; }
	@[ bench/prism/node_modules/.package-lock.json -nt bench/prism/package-lock.json ] || (cd bench/prism && npm ci --no-audit --no-fund --loglevel=error)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
