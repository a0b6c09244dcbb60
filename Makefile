# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PEERS := .peers
NPM_PEERS := @modelcontextprotocol/server-everything@2026.8.31 \
             @modelcontextprotocol/server-filesystem@2026.8.31 \
             @modelcontextprotocol/server-memory@2026.8.31

# Long runs, each behind its own target (see docs/testing.md); `make test` runs the short forms.
FUZZ_TARGETS ?= codec session policy redact audit
FUZZ_SECONDS ?= 120
CHAOS_CYCLES ?= 30
LOAD_ARGS ?= --sessions 20 --seconds 20 --window 8
# Dependency locks and their audit use their own tool venv, so the tools never enter the locks.
TOOLS_VENV := .venv-tools
TOOLS := pip-tools==7.6.2 pip-audit==2.10.1
LOCK_OPTIONS := --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links
AUDIT_TIMEOUT ?= 300
AUDIT_SERVICE ?= pypi

.PHONY: demo test lint types unit integration interop bench clean peers install-dev fuzz chaos load lock audit-deps

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

$(VENV)/.fuzz: $(VENV)/.dev pyproject.toml
	$(PY) -m pip install -q -e '.[dev,demo,fuzz]'
	touch $@

$(TOOLS_VENV)/.installed:
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q $(TOOLS)
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
	$(VENV)/bin/ruff check src tests bench examples fuzz
	$(VENV)/bin/ruff format --check src tests bench examples fuzz

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
	$(PY) -m bench.report

# Coverage-guided fuzzing (atheris), FUZZ_SECONDS per target; new inputs stay in fuzz/corpus/, crashes
# land in fuzz/findings/ (see tests/regressions/README.md).
fuzz: $(VENV)/.fuzz
	@mkdir -p fuzz/findings; status=0; for target in $(FUZZ_TARGETS); do \
		echo "== fuzz $$target for $(FUZZ_SECONDS) s (log: fuzz/findings/$$target.log)"; \
		if $(PY) -m fuzz.run $$target -max_total_time=$(FUZZ_SECONDS) >fuzz/findings/$$target.log 2>&1; \
		then grep -E '^#[0-9]+.*DONE' fuzz/findings/$$target.log | tail -n 1; \
		else tail -n 30 fuzz/findings/$$target.log; status=1; fi; \
	done; exit $$status

# The chaos scenarios of tests/chaos with many cycles (the suite runs a few).
chaos: $(VENV)/.dev
	CHAOS_CYCLES=$(CHAOS_CYCLES) $(PY) -m pytest -q -p no:cacheprovider -o timeout=1800 tests/chaos

load: $(VENV)/.dev
	$(PY) -m compileall -q src bench >/dev/null
	$(PY) -m bench.load $(LOAD_ARGS)

# Refresh the hashed locks from pyproject.toml (needs the package index).
lock: $(TOOLS_VENV)/.installed
	$(TOOLS_VENV)/bin/pip-compile $(LOCK_OPTIONS) --output-file requirements/runtime.lock pyproject.toml
	$(TOOLS_VENV)/bin/pip-compile $(LOCK_OPTIONS) --extra dev --extra demo --output-file requirements/dev.lock pyproject.toml

# Known vulnerabilities in the locked versions. Needs a vulnerability database (PyPI's JSON API or OSV):
# where none is reachable this fails, saying so, within AUDIT_TIMEOUT seconds. Not part of `make test`.
audit-deps: $(TOOLS_VENV)/.installed
	@timeout $(AUDIT_TIMEOUT) $(TOOLS_VENV)/bin/pip-audit --strict --require-hashes --disable-pip \
		--vulnerability-service $(AUDIT_SERVICE) --progress-spinner off --timeout 20 \
		-r requirements/runtime.lock -r requirements/dev.lock \
	|| { echo "make audit-deps: FAILED: a locked dependency is vulnerable, or the vulnerability database" \
		"($(AUDIT_SERVICE)) could not be reached from here; see docs/security-scanning.md" >&2; exit 1; }

clean:
	rm -rf $(VENV) $(PEERS) $(TOOLS_VENV) build *.egg-info src/*.egg-info
