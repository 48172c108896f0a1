# ebay-trends — every entry point a newcomer needs.
#   make test    create .venv from the repo's files and run the whole suite (what CI runs)
#   make demo    emulator + warehouse + Airflow: 3 simulated days through the real DAG
#   make ui      the same setup under `airflow standalone` (web UI, trends page)
#   make bench   benchmarks -> bench/results/latest.json, docs/BENCHMARKS.md
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.PHONY: venv test test-fast faults emulator demo ui bench constraints clean

$(STAMP): requirements.txt constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required, found " + sys.version' 
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

faults: $(STAMP)
	$(PY) -m pytest -m faults $(PYTEST_ARGS)

emulator: $(STAMP)
	$(PY) -m include.ebay_emulator $(EMULATOR_ARGS)

demo: $(STAMP)
	$(PY) -m scripts.demo $(DEMO_ARGS)

ui: $(STAMP)
	$(PY) -m scripts.demo --ui $(DEMO_ARGS)

$(VENV)/.bench-installed: $(STAMP) requirements-bench.txt
	$(PY) -m pip install -q -r requirements-bench.txt -c constraints.txt
	@touch $@

bench: $(VENV)/.bench-installed
	$(PY) -m bench.run $(BENCH_ARGS)

# Refresh the transitive pins after changing requirements.txt.
constraints: $(STAMP)
	$(PY) -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) .airflow .demo test-artifacts .pytest_cache
