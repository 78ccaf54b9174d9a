# Dynamic Task Mapping Lab. `make lab` to work through it, `make test` to check it all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv installs the locked environment; bootstrapped with pip when missing.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
BIN := $(VENV)/bin
LAB := $(BIN)/lab
PYTEST_ARGS ?=
# Two streams at once (tests/streams.py): the session Airflow's tests, and those that start their own.
# TEST_STREAMS= runs everything in one process, one test after the other.
TEST_STREAMS ?= -n 2 --lab-streams

.PHONY: help setup lab up down status logs check lint fmt test test-unit test-faults test-celery notebooks reset chromium test-browser screenshots bench bench-reference bench-profiles bench-candidates bench-startup bench-growth bench-calibrate bench-validate bench-celery

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

STAMP := $(VENV)/.synced
# --compile-bytecode: every Airflow process (each component, each task's DAG parse, each CLI call)
# would otherwise compile its modules from source wherever .pyc files are never written
# (PYTHONDONTWRITEBYTECODE=1, as on the lab's CI machines): importing Airflow then takes twice as long.
$(STAMP): pyproject.toml uv.lock Makefile
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

setup: $(STAMP)  ## install the locked environment into .venv, prepare the Airflow home (idempotent)
	@$(LAB) prepare

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

check: $(STAMP)  ## your progress: the lessons and exercises you completed (from your notebooks, Airflow, lake)
	@$(LAB) check

lint: $(STAMP)  ## ruff: lint (with Airflow 3 rules) and check formatting of lab/, dags/, tests/ and the notebooks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)  ## ruff: format everything and apply the safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup chromium lint  ## every test: lint, unit, DAG integrity, integration on a real Airflow, notebooks (nbval), browser, CeleryExecutor
	LAB_TEST_CELERY=1 $(BIN)/pytest $(TEST_STREAMS) $(PYTEST_ARGS)

test-unit: setup  ## only the tests that need no Airflow
	$(BIN)/pytest -m "not airflow" tests/unit $(PYTEST_ARGS)

test-faults: setup  ## only the fault drills, offline after setup, two labs side by side (README: When something goes wrong)
	$(BIN)/pytest tests/integration/test_fault_drills.py tests/integration/test_offline.py tests/integration/test_two_labs.py $(PYTEST_ARGS)

test-celery: setup  ## only the distributed path: PostgreSQL + Redis (apt-installed if missing) + Airflow on CeleryExecutor, 2 workers
	LAB_TEST_CELERY=1 $(BIN)/pytest tests/celery $(PYTEST_ARGS)

# Browser tests and docs pictures drive Debian's Chromium; installed here (apt), never downloaded by a test.
CHROMIUM ?= /usr/bin/chromium
chromium:  ## install Debian's Chromium for the browser tests if it is missing (apt-get, needs root or sudo)
	@if [ -x "$(CHROMIUM)" ] || [ -n "$$LAB_CHROMIUM" ]; then exit 0; fi; \
	 SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO="sudo"; fi; \
	 if [ -n "$$SUDO" ] && ! command -v sudo >/dev/null; then \
	   echo "Chromium is missing and you are not root: run 'apt-get install chromium' as root" >&2; exit 1; fi; \
	 echo "Installing Debian's chromium (apt-get) for the browser tests ..."; \
	 $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

test-browser: setup chromium  ## only the browser tests: JupyterLab and the Airflow UI in headless Chromium
	$(BIN)/pytest -m browser tests/browser $(PYTEST_ARGS)

screenshots: setup chromium  ## regenerate notebooks/img/*.png (docs pictures) from a real run on a throw-away local Airflow
	$(BIN)/python -m lab.tools.screenshots

notebooks: setup  ## re-execute the notebooks in place so their stored outputs stay current
	$(BIN)/python -m lab.tools.notebooks

PARAMS ?=
bench: setup  ## time loop vs backfill vs mapping on the local Airflow into data/benchmarks/<UTC time>/ (PARAMS="-p partitions 32")
	$(LAB) bench $(PARAMS)

bench-reference: setup  ## the README's reference benchmark (16 partitions, P=8, latency 2 s, every strategy) on both profiles (lab, default), 5 interleaved rounds, about 25 min, into data/benchmarks/reference-<UTC time>/, then update the README (only the block: lab bench --readme DIR)
	$(LAB) bench --reference $(PARAMS)

PROFILES ?= default,lab
bench-profiles: setup  ## the lab's tuned Airflow against Airflow's defaults, interleaved, 5 rounds (no-op tasks; idle CPU and memory; the floors: the same tasks by dag.test() and the bare write), into data/benchmarks/tuning-<UTC time>/
	$(BIN)/python -m lab.bench.tuning --variants $(PROFILES) --rounds 5 --partitions 32 --parallelism 8 --p1 16 --idle 30 --settle 20 --references

bench-candidates: setup  ## every candidate setting one at a time against Airflow's defaults (no-op N=32, P=8), interleaved, 5 rounds, about 55 min, into data/benchmarks/tuning-<UTC time>/
	$(BIN)/python -m lab.bench.tuning --rounds 5 --partitions 32 --parallelism 8

bench-startup: setup  ## make up to healthy (a cold start, then 5 starts on an existing home), the CPU each component used to get there, idle CPU over 60 s and PSS, about 12 min, into data/benchmarks/startup-<UTC time>/
	$(BIN)/python -m lab.bench.startup --rounds 5 --settle 30 --window 60

GROWTH ?=
bench-growth: setup  ## how the cost grows with N (16..1024, P=8: mapping, chunks, backfill; no-op and 0.5 s) and cores vs waiting, about 30 min, into data/benchmarks/growth-<UTC time>/ (GROWTH="--sizes 16,64")
	$(BIN)/python -m lab.bench.growth $(GROWTH)

bench-calibrate: setup  ## measure this machine's Airflow costs for the cost model (lab.bench.model), at most 3 minutes, into data/benchmarks/calibration-<UTC time>.json
	$(LAB) bench calibrate

bench-validate: setup  ## the cost model's predictions against measured trials (about 11 minutes), into data/benchmarks/validation-<UTC time>/
	$(LAB) bench validate $(PARAMS)

bench-celery: setup  ## the cost model on the Celery deployment of make test-celery: its hand-off, then predicted vs measured (about 5 minutes; needs make bench-calibrate first), into data/benchmarks/celery-check-<UTC time>/
	$(BIN)/python -m lab.bench.celery_check

reset: down  ## stop Airflow, delete the lake and the Airflow home (keeps .venv)
	rm -rf .airflow data/lake data/benchmarks

environment.yml: uv.lock docker/requirements.txt  ## regenerate the conda environment (and the compose image's requirements) from the lock
	@{ echo "# Generated from uv.lock by 'make environment.yml': the same pinned set as 'make setup'."; \
	   echo "# conda env create -f environment.yml && conda activate dtm-lab"; \
	   echo "name: dtm-lab"; echo "channels:"; echo "  - conda-forge"; echo "dependencies:"; \
	   echo "  - python=3.11"; echo "  - pip"; echo "  - pip:"; \
	   $(UV) export --frozen --no-hashes --no-header --format requirements-txt \
	     | grep -v '^ *#' | sed 's/^/      - /'; } > $@

docker/requirements.txt: uv.lock  ## regenerate the compose image's requirements from the lock (every locked pin)
	@{ echo "# Generated from uv.lock by 'make docker/requirements.txt': what docker/Dockerfile installs."; \
	   $(UV) export --frozen --no-hashes --no-header --no-emit-project --format requirements-txt \
	     | grep -v '^ *#'; } > $@
