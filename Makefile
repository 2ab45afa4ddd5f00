# The two commands: `make run` (whole pipeline on simulated sources, shows the result)
# and `make test` (the test suite; what CI runs). Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run pipeline test test-fast bench venv simulator rollback lint lock clean secrets tls prod-local bench-workers dashboard templates precheck metrics help

run: venv  ## start the simulated sources and run the pipeline through Airflow, then show the result and next steps (SIM_SCALE, SIM_SEED, SIM_CLOCK)
	$(PY) scripts/run_local.py

# make dashboard / make rollback: with PLAN_METRICS_DATA_DIR unset, the demo world started last
# (data/demo/latest) if there is one, else data/; scripts/demo_latest.py says which file
dashboard: venv  ## the dashboard (看板) on the published file (the demo world started last, or PLAN_METRICS_DATA_DIR), read-only; prints its URL (DASHBOARD_PORT, default 8501)
	$(PY) scripts/demo_latest.py $(PY) -m dashboard $(if $(DASHBOARD_PORT),--port $(DASHBOARD_PORT))

templates: venv  ## the S4 report templates (填报模板), one workbook per county, from the published S1 registry (the demo world started last, or PLAN_METRICS_DATA_DIR); OUT= another folder
	$(PY) scripts/demo_latest.py $(PY) -m extract.templates $(if $(OUT),--out $(OUT))

precheck: venv  ## pre-check report files as the pipeline would judge them (预检), storing nothing: make precheck FILES="a.xlsx b.csv" (LANG_EN=1: in English)
	$(PY) scripts/demo_latest.py $(PY) -m extract.precheck $(FILES) $(if $(LANG_EN),--lang en)

# make metrics: MetricFlow's `mf` on the published file, read-only (warehouse/semantic.py,
# docs/readers.md "The semantic layer"); Q= starting with an option is `mf query`'s
metrics: venv  ## query the semantic layer (MetricFlow, read-only) on the published file (the demo world started last, or PLAN_METRICS_DATA_DIR): make metrics Q='--metrics orders_placed --group-by order__industry,metric_time__month'
	$(PY) scripts/demo_latest.py $(PY) -m warehouse.semantic $(Q)

pipeline: venv  ## run the DAGs once against the configured sources (Airflow connections, PLAN_METRICS_*)
	bash scripts/pipeline.sh

test: venv  ## run the test suite
	bash scripts/test.sh

test-fast: venv  ## the tests that need no Airflow scheduler, browser, PostgreSQL or Redis, in random order (~7½ min)
	bash scripts/test.sh -m "not airflow and not browser and not services" -p randomly

bench: venv  ## benchmark the pipeline at SF1, SF10, SF100 against its physical limits (QUICK=1: SF1 only)
	$(PY) -m bench $(if $(QUICK),--quick) $(if $(SCALES),--scales $(SCALES))

bench-workers: venv  ## one extract worker against two on the production deployment (make prod-local's stack)
	$(PY) -m bench.workers $(if $(SCALE),--scale $(SCALE))

venv: $(STAMP)  ## create .venv from requirements-dev.lock (every target that needs it runs this first)

# Development installs the development lock (production's packages at the same versions plus
# the test and lint tools), hash-checked; --clear so the venv holds exactly the lock.
$(STAMP): requirements-dev.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version)'
	$(PYTHON) -m venv --clear $(VENV)
	@# --no-deps: the lock is the whole closure, and pip's resolver trips over extras in hash
	@# mode (pypa/pip#9644); `pip check` then proves the set is complete and consistent.
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-dev.lock
	$(VENV)/bin/pip check --disable-pip-version-check
	@# the checkout itself is on the venv's path: extract/, warehouse/, expectations/, simulator/
	$(PY) -c 'import site, pathlib; pathlib.Path(site.getsitepackages()[0], "plan_metrics.pth").write_text("$(CURDIR)\n")'
	touch $(STAMP)

.PHONY: airflow
airflow: venv  ## the Airflow UI + scheduler on this machine against the simulator (AIRFLOW_PORT, SIM_SCALE default 0.2, SIM_SEED, SIM_CLOCK)
	$(PY) scripts/airflow_local.py

simulator: venv  ## serve the simulated sources in the foreground (SEED, SCALE, PORT, CLOCK, FAULTS; INCOMING=1: also the S4/S5 drops, in the world's own folder)
	$(PY) $(if $(INCOMING),scripts/simulator_local.py,-m simulator serve) --seed $(or $(SEED),42) --scale $(or $(SCALE),1) --port $(or $(PORT),8700) \
	    --clock $(or $(CLOCK),2021-12-31T23:59:59+08:00) $(foreach f,$(FAULTS),--faults $(f))

prod-local: venv  ## docker-compose.yml as processes: PostgreSQL, Redis, Celery workers, the dashboard behind its login, the TLS proxy (SIM_SCALE, SIM_CLOCK)
	$(PY) scripts/prod_local.py

secrets: venv  ## write .env (mode 0600 from its first byte) from .env.example with fresh secrets (keeps secrets already good)
	$(PY) -m deploy.env_secrets write .env

tls: venv  ## a self-signed certificate for the TLS proxy in ./tls (NAMES="host.example 10.0.0.5"; keeps an existing pair)
	$(PY) -m deploy.tls tls $(NAMES)

rollback: venv  ## re-publish the previous publish (or TO=<publish_id>) of the demo world started last, or of PLAN_METRICS_DATA_DIR
	$(PY) scripts/demo_latest.py $(PY) -m warehouse.publish rollback $(if $(TO),--to $(TO))

lint: venv  ## ruff on the Python, sqlfluff (dbt templater, DuckDB dialect) on the dbt models
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd dbt_project && PLAN_METRICS_WORKING_DB=$${TMPDIR:-/tmp}/plan-metrics-sqlfluff.duckdb ../$(VENV)/bin/sqlfluff lint models --processes 2

# Production first: the development set is constrained to it (-c requirements.lock). Existing
# pins are kept unless an .in file asks otherwise (uv prefers what the output file holds);
# UPGRADE=1 re-resolves everything to the newest allowed versions.
UV_VERSION := 0.13.9
LOCK_VENV := /tmp/plan-metrics-lock-$(shell id -u)
UV_COMPILE = $(LOCK_VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 $(if $(UPGRADE),--upgrade)
lock:  ## re-resolve requirements.in / requirements-dev.in into the hashed locks (needs the package index)
	test -x $(LOCK_VENV)/bin/uv && $(LOCK_VENV)/bin/uv --version | grep -q ' $(UV_VERSION) ' \
	    || { rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet uv==$(UV_VERSION); }
	$(UV_COMPILE) requirements.in -o requirements.lock
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.lock

clean:  ## remove everything the pipeline and the demos wrote, listing each path and its size (keeps the virtualenv)
	@$(or $(PYTHON),python3) scripts/clean.py

help:  ## list the targets with what each does (`make` alone is `make run`)
	@echo "make <target>   (\`make\` alone runs \`make run\`)"
	@awk -F ':.*## ' '/^[a-zA-Z][a-zA-Z_-]*:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))
