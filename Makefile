# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PEERS := .peers
NPM_PEERS := @modelcontextprotocol/server-everything@2026.8.31 \
             @modelcontextprotocol/server-filesystem@2026.8.31 \
             @modelcontextprotocol/server-memory@2026.8.31

.PHONY: demo test lint types unit integration interop bench clean peers install-dev

$(VENV)/.base:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	touch $@

$(VENV)/.demo: $(VENV)/.base pyproject.toml
	$(PY) -m pip install -q -e '.[demo]'
	touch $@

$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(PY) -m pip install -q -e '.[dev,demo]'
	touch $@

$(PEERS)/.installed:
	mkdir -p $(PEERS)
	npm_config_cache=$(CURDIR)/$(PEERS)/.npm-cache npm install --silent --no-fund --no-audit \
		--prefix $(PEERS) $(NPM_PEERS)
	touch $@

install-dev: $(VENV)/.dev
peers: $(PEERS)/.installed

demo: $(VENV)/.demo
	$(PY) examples/demo/run_demo.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

types: $(VENV)/.dev
	$(VENV)/bin/mypy

unit: $(VENV)/.dev
	$(PY) -m pytest -q tests/unit

integration: $(VENV)/.dev peers
	$(PY) -m pytest -q tests/integration tests/interop

test: lint types $(VENV)/.dev peers
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(VENV)/.dev
	$(PY) -m compileall -q src bench >/dev/null  # as an installed wheel would have; the shell may set PYTHONDONTWRITEBYTECODE
	$(PY) bench/overhead.py
	$(PY) bench/decision.py
	$(PY) bench/redact_bench.py

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info src/*.egg-info
