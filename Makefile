# Two commands on a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Test files run in parallel processes (pytest-xdist); each file keeps its fixtures in one process.
TEST_JOBS ?= 2

.PHONY: install up down test typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

up: install
	$(VENV)/bin/jadechain up --dir .jadechain

down:
	$(VENV)/bin/jadechain down --dir .jadechain

test: install typecheck
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

typecheck: install
	$(PY) -m mypy --strict ledger contracts consensus

bench: install
	$(PY) bench/ledger_apply.py --quick

clean:
	rm -rf $(VENV) .jadechain
