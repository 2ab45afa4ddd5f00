#!/usr/bin/env bash
# Airflow's own components on this machine: api-server (UI + REST API), scheduler,
# dag-processor and triggerer (`airflow standalone`, LocalExecutor). Used by `make airflow`
# (scripts/airflow_local.py), the real-scheduler test and the benchmark (bench/standalone.py).
# Sources come from AIRFLOW_CONN_* / PLAN_METRICS_* in the environment.
#   AIRFLOW_PORT                          port of the api-server (default 8080)
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN   the metadata database: airflow_env.sh defaults it to
#                                         SQLite under $AIRFLOW_HOME (`make airflow`); the
#                                         real-scheduler test gives a throw-away PostgreSQL
# Run it in its own process group: stopping the group stops every component and task.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow_env.sh"
cd "$REPO"

PORT="${AIRFLOW_PORT:-8080}"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$PORT}"
# Task processes report to the api-server's execution API.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:$PORT/execution/}"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# Two cores: two task processes at a time; the writer pool serialises DuckDB anyway.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-2}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# Pick up DAG edits and new Asset events quickly on a laptop.
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="${AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC:-2}"

airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
airflow pools set duckdb_writer 1 "DuckDB allows one writing process: every task that opens the working database" \
    > /dev/null
exec airflow standalone
