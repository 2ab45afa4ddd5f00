#!/usr/bin/env bash
# `make pipeline`: run the pipeline's DAGs once, through Airflow, in one process
# (pipeline/run_dags.py: what `airflow dags test` does, parsing the DAG folder once),
# against whatever sources are configured (Airflow connections, PLAN_METRICS_* variables).
# Airflow's full log of the run goes to $PLAN_METRICS_DATA_DIR/logs/pipeline/pipeline.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
cd "$REPO"

# one extract DAG per source of the registry (extract/sources/__init__.py), in its order; any order
# gives the same tables (rules across sources are dbt's, not the loaders')
mapfile -t EXTRACT_DAGS < <(python -m extract.sources dags)
LOG_DIR="$PLAN_METRICS_DATA_DIR/logs/pipeline"
mkdir -p "$LOG_DIR"

# PLAN_METRICS_AS_OF (ISO 8601): the instant the published data is as of; default: the run's
# data interval end. `make run` sets it to the simulator's clock.
CONF=()
if [ -n "${PLAN_METRICS_AS_OF:-}" ]; then
    CONF=(--conf "transform_publish={\"as_of\": \"$PLAN_METRICS_AS_OF\"}")
fi

python -m pipeline.run_dags --log-dir "$LOG_DIR" "${CONF[@]}" "${EXTRACT_DAGS[@]}" transform_publish
python -m warehouse.published_summary
