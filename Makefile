# Dynamic Task Mapping Lab. `make lab` to work through it, `make test` to check it all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv installs the locked environment; bootstrapped with pip when missing.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
BIN := $(VENV)/bin
LAB := $(BIN)/lab
PYTEST_ARGS ?=

.PHONY: help setup lab up down status logs test test-unit notebooks reset

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

STAMP := $(VENV)/.synced
$(STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

setup: $(STAMP)  ## install the locked environment into .venv (idempotent)

lab: setup  ## start the local Airflow and JupyterLab (Ctrl-C stops both)
	$(LAB) jupyter

up: setup  ## start the local Airflow in the background (reuses a healthy one)
	$(LAB) up

down:  ## stop the local Airflow, every process of it
	@if [ -x $(LAB) ]; then $(LAB) down; else echo "nothing installed, nothing running"; fi

status: setup  ## is the local Airflow healthy
	$(LAB) status

logs: setup  ## tail the scheduler log (make logs C=api-server for another component)
	$(LAB) logs $(or $(C),scheduler)

test: setup  ## every test: unit, DAG integrity, integration on a real Airflow, notebooks (nbval)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup  ## only the tests that need no Airflow
	$(BIN)/pytest -m "not airflow" tests/unit $(PYTEST_ARGS)

notebooks: setup  ## re-execute the notebooks in place so their stored outputs stay current
	$(BIN)/python -m lab.notebooks

reset: down  ## stop Airflow, delete the lake and the Airflow home (keeps .venv)
	rm -rf .airflow data/lake data/benchmarks

environment.yml: uv.lock  ## regenerate the conda environment from the lock (pip section = every locked pin)
	@{ echo "# Generated from uv.lock by 'make environment.yml': the same pinned set as 'make setup'."; \
	   echo "# conda env create -f environment.yml && conda activate dtm-lab"; \
	   echo "name: dtm-lab"; echo "channels:"; echo "  - conda-forge"; echo "dependencies:"; \
	   echo "  - python=3.11"; echo "  - pip"; echo "  - pip:"; \
	   $(UV) export --frozen --no-hashes --no-header --format requirements-txt \
	     | grep -v '^ *#' | sed 's/^/      - /'; } > $@
