#!/usr/bin/env bash
# `make pipeline`: run the pipeline's DAGs once, through Airflow (`airflow dags test`),
# against whatever sources are configured (Airflow connections, PLAN_METRICS_* variables).
# Each DAG's full Airflow log goes to $PLAN_METRICS_DATA_DIR/logs/pipeline/<dag>.log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
cd "$REPO"

# one extract DAG per source of the registry (extract/sources.py), in its order; any order
# gives the same tables (rules across sources are dbt's, not the loaders')
mapfile -t EXTRACT_DAGS < <(python -m extract.sources dags)
LOG_DIR="$PLAN_METRICS_DATA_DIR/logs/pipeline"
mkdir -p "$LOG_DIR"

airflow db migrate > "$LOG_DIR/airflow-db-migrate.log" 2>&1 || { tail -20 "$LOG_DIR/airflow-db-migrate.log"; exit 1; }
airflow pools set duckdb_writer 1 "DuckDB allows one writing process: every task that opens the working database" \
    > /dev/null 2>&1

# PLAN_METRICS_AS_OF (ISO 8601): the instant the published data is as of; default: the run's
# data interval end. `make run` sets it to the simulator's clock.
TRANSFORM_CONF=()
if [ -n "${PLAN_METRICS_AS_OF:-}" ]; then
    TRANSFORM_CONF=(-c "{\"as_of\": \"$PLAN_METRICS_AS_OF\"}")
fi

run_dag() {
    local dag="$1" log="$LOG_DIR/$1.log" start ms
    shift
    start=$(date +%s%N)
    printf '▶ %-28s ' "$dag"
    if airflow dags test "$dag" "$@" > "$log" 2>&1; then
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        printf 'ok (%d.%d s)\n' $((ms / 1000)) $(((ms % 1000) / 100))
    else
        printf 'FAILED\n'
        echo "---- what failed (full log: $log) ----"
        grep -E "PIPELINE FAILURE|Quality gate failed|  - \[|Investigate|duckdb -readonly|dbt build failed|Error|error" "$log" \
            | grep -v "^\s*$" | tail -25
        exit 1
    fi
}

for dag in "${EXTRACT_DAGS[@]}"; do run_dag "$dag"; done
run_dag transform_publish "${TRANSFORM_CONF[@]}"
python -m warehouse.show
