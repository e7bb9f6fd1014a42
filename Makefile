# The two commands of the README, and the ones they are made of. Every target bootstraps itself:
# a fresh machine needs only Python 3.11, git, make and root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench install clean system-packages compiled sslyze test-compiled soak oidc-provider
COMPILED := .venv-compiled
# sslyze (tests/test_tls_policy.py) pins cryptography below the version .venv uses: its own venv
SSLYZE   := .venv-sslyze

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# what a user installs (`pip install .`: the compiled build where a C compiler is found)
demo: compiled
	$(COMPILED)/bin/frontdoor check examples/shop --env prod
	$(COMPILED)/bin/frontdoor who examples/shop --env prod GET https://shop.example.com/orders/42
	$(COMPILED)/bin/frontdoor demo examples/shop --env dev

lint: $(STAMP)
	$(BIN)/ruff check src tests bench buildsupport
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

# the real OpenID provider the sign-in tests run against (npm oidc-provider, pinned by the lock file)
OIDC_MODULES := tests/oidc/node_modules/.package-lock.json
$(OIDC_MODULES): tests/oidc/package.json tests/oidc/package-lock.json | system-packages
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

oidc-provider: $(OIDC_MODULES)

unit: $(STAMP) system-packages sslyze oidc-provider
	$(BIN)/pytest

# the end-to-end tests run twice: pure Python, then the mypyc build users and benchmarks run
test: lint typecheck unit test-compiled

# What users get: a plain `pip install .`, which compiles the request path with mypyc (setup.py's list,
# buildsupport/frontdoor_backend.py's decision), in its own venv so that the editable .venv used for
# development and tests never runs a stale compiled module. Rebuilt when any source changes. Without a C
# compiler (and no root to install one) the install is pure Python, and test-compiled says so.
$(COMPILED)/.installed: pyproject.toml setup.py MANIFEST.in buildsupport/frontdoor_backend.py $(shell find src -name '*.py')
	bash scripts/build-prerequisites.sh $(PYTHON) || echo "make compiled: no C compiler: pure Python"
	@$(PYTHON) -m venv $(COMPILED)
	$(COMPILED)/bin/python -m pip install -q --upgrade pip
	$(COMPILED)/bin/python -m pip install -q .
	$(COMPILED)/bin/frontdoor --version
	@touch $@

compiled: $(COMPILED)/.installed

# The end-to-end gateway, protection, parity, HTTP/2 and sign-in tests again, their `frontdoor` subprocesses
# run by the compiled build's interpreter (tests/harness.py, FRONTDOOR_PYTHON), so a miscompile cannot ship. The
# first line refuses to pass if the request path did not come out compiled.
COMPILED_TESTS := tests/test_gateway_e2e.py tests/test_body_timeouts.py tests/test_send_timeouts.py tests/test_protection_e2e.py tests/test_limited_clients.py tests/test_parity.py tests/test_h2.py tests/test_h2_parity.py tests/test_signin_e2e.py tests/test_signin_refresh_e2e.py
test-compiled: $(STAMP) compiled system-packages oidc-provider
	$(COMPILED)/bin/python -c 'import sys, frontdoor.http.h1 as m, frontdoor.memo as n; sys.exit(not (m.__file__.endswith(".so") and n.__file__.endswith(".so")))'
	$(COMPILED)/bin/frontdoor --version | grep -q 'compiled (mypyc)'
	FRONTDOOR_PYTHON=$(abspath $(COMPILED))/bin/python $(BIN)/pytest -q $(COMPILED_TESTS)

# the build users install (compiled) and the pure Python one side by side, each against nginx in its run
bench: $(STAMP) compiled
	$(BIN)/python bench/contract_scale.py
	$(BIN)/python bench/builds.py --pure $(BIN)/frontdoor --compiled $(COMPILED)/bin/frontdoor
	$(BIN)/python -m bench.authz --frontdoor $(COMPILED)/bin/frontdoor
	$(BIN)/python -m bench.h2 --frontdoor $(COMPILED)/bin/frontdoor
	@# instructions per proxied request under callgrind: the measure a busy machine does not move
	$(BIN)/python -m bench.instructions --frontdoor $(COMPILED)/bin/frontdoor --json bench/results/instructions.json
	$(BIN)/python -m bench.instructions --frontdoor $(COMPILED)/bin/frontdoor --route token --json bench/results/instructions-token.json
	$(BIN)/python -m bench.h2instructions --frontdoor $(COMPILED)/bin/frontdoor --json bench/results/h2instructions.json

# Minutes of faults against the build users install (not in make test): a summary table, exit status 1
# when a bar is missed. SOAK_ARGS=--quick shortens every phase (bench/soak.py --help).
soak: $(STAMP) compiled system-packages
	FRONTDOOR_PYTHON=$(abspath $(COMPILED))/bin/python $(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(COMPILED) $(SSLYZE) .mypy_cache .pytest_cache .ruff_cache .hypothesis build src/*.egg-info tests/oidc/node_modules
