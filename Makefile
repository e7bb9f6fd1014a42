# The two commands of the README, and the ones they are made of. Every target bootstraps itself:
# a fresh machine needs only Python 3.11, git, make and root.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench install clean system-packages

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

typecheck: $(STAMP)
	$(BIN)/mypy

system-packages:
	bash scripts/system-packages.sh

unit: $(STAMP) system-packages
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/contract_scale.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build src/*.egg-info
