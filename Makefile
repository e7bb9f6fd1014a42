# The two commands of the README, and the ones they are made of. Every target bootstraps itself:
# a fresh machine needs only Python 3.11, git, make and root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench install clean system-packages compiled sslyze test-compiled
COMPILED := .venv-compiled
# sslyze (tests/test_tls_policy.py) pins cryptography below the version .venv uses: its own venv
SSLYZE   := .venv-sslyze

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/frontdoor check examples/shop --env prod
	$(BIN)/frontdoor who examples/shop --env prod GET https://shop.example.com/orders/42
	$(BIN)/frontdoor demo examples/shop --env dev

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

system-packages:
	bash scripts/system-packages.sh

$(SSLYZE)/.installed:
	@$(PYTHON) -m venv $(SSLYZE)
	$(SSLYZE)/bin/python -m pip install -q 'sslyze==6.3.1'
	@touch $@

sslyze: $(SSLYZE)/.installed

unit: $(STAMP) system-packages sslyze
	$(BIN)/pytest

# the end-to-end tests run twice: pure Python, then the mypyc build users and benchmarks run
test: lint typecheck unit test-compiled

# The request path compiled with mypyc (setup.py), in its own venv so that the editable .venv used for
# development and tests never runs a stale compiled module. Rebuilt when any source changes.
$(COMPILED)/.installed: pyproject.toml setup.py $(shell find src -name '*.py')
	bash scripts/build-prerequisites.sh $(PYTHON)
	@$(PYTHON) -m venv $(COMPILED)
	$(COMPILED)/bin/python -m pip install -q --upgrade pip setuptools wheel 'mypy>=1.10' 'types-PyYAML>=6.0.12'
	$(COMPILED)/bin/python -m pip install -q .
	@# a module compiled by an earlier build and no longer listed would shadow its .py (setuptools copies
	@# build/ as it finds it): start from none
	rm -rf build $(COMPILED)/lib/python*/site-packages/frontdoor
	FRONTDOOR_COMPILE=1 $(COMPILED)/bin/python -m pip install -q --no-build-isolation --no-deps --force-reinstall .
	@touch $@

compiled: $(COMPILED)/.installed

# The end-to-end gateway, protection and parity tests again, their `frontdoor` subprocesses run by the
# compiled build's interpreter (tests/harness.py, FRONTDOOR_PYTHON), so a miscompile cannot ship. The
# first line refuses to pass if the request path did not come out compiled.
COMPILED_TESTS := tests/test_gateway_e2e.py tests/test_protection_e2e.py tests/test_parity.py
test-compiled: $(STAMP) compiled system-packages
	$(COMPILED)/bin/python -c 'import sys, frontdoor.http.h1 as m, frontdoor.memo as n; sys.exit(not (m.__file__.endswith(".so") and n.__file__.endswith(".so")))'
	FRONTDOOR_PYTHON=$(abspath $(COMPILED))/bin/python $(BIN)/pytest -q $(COMPILED_TESTS)

bench: $(STAMP) compiled
	$(BIN)/python bench/contract_scale.py
	$(BIN)/python bench/gateway.py --frontdoor $(COMPILED)/bin/frontdoor
	$(BIN)/python -m bench.authz --frontdoor $(COMPILED)/bin/frontdoor
	@# instructions per proxied request under callgrind: the measure a busy machine does not move
	$(BIN)/python -m bench.instructions --frontdoor $(COMPILED)/bin/frontdoor --json bench/results/instructions.json

clean:
	rm -rf $(VENV) $(COMPILED) $(SSLYZE) .mypy_cache .pytest_cache .ruff_cache .hypothesis build src/*.egg-info
