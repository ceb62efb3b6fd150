# Two commands on a fresh machine with Python 3.11 and pip:
#   make study   create .venv, install difftn, run the default study (config.yaml)
#   make test    create .venv if needed, run the test suite (what .ci/run runs)
PYTHON ?= python3
CORES  ?= $(shell nproc)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: study test env

env: $(STAMP)

# Reinstall when the pins change; torch==2.13.0 takes the local CPU wheel.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

study: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/python -m pytest
