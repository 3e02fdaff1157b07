# Two commands on a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Test files run in parallel processes (pytest-xdist); each file keeps its fixtures in one process.
TEST_JOBS ?= 2

.PHONY: install up down test typecheck bench clean accel

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The compiled (mypyc) build of the ledger's hot modules: optional, same results; without a C
# compiler it says why and everything runs as Python (docs/benchmarks.md, "compiled build").
accel: install
	-$(PY) -m jadechain.accel build

up: install accel
	$(VENV)/bin/jadechain up --dir .jadechain

down:
	$(VENV)/bin/jadechain down --dir .jadechain

test: install typecheck accel
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

typecheck: install
	$(PY) -m mypy --strict ledger contracts consensus

bench: install accel
	$(PY) bench/ledger_apply.py --quick

clean:
	rm -rf $(VENV) .jadechain build/accel
