# Two commands set everything up on a fresh clone:
#   make dev   – install into .venv and run the example gallery (API + worker) with `durable dev`
#   make test  – install into .venv, start a private Redis if REDIS_URL is unset, lint, type-check, test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev test check install bench clean

$(BIN)/durable: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/durable

install: $(BIN)/durable

dev: install
	$(BIN)/durable dev --workflows examples.gallery:workflows

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/test

check: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
