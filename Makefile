# Two commands set everything up on a fresh clone:
#   make dev   – install what running needs into .venv and run the example gallery (API + worker)
#                with `durable dev`
#   make test  – install with the test tools, start a private Redis if REDIS_URL is unset, lint,
#                type-check, test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# setuptools notes that editable installs import from the source folder: that is the point here.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q

.PHONY: dev test check install install-test bench clean

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# What running needs, plus the `dev` extra (the embedded Redis of `durable dev`).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

# The same with the `test` extra (pytest, ruff, mypy, ...).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/pip
	$(PIP_INSTALL) -e '.[test,dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test

dev: install
	$(BIN)/durable dev --workflows examples.gallery:workflows

test: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/test

check: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

bench: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
