#!/usr/bin/env bash
# What `airflow-init` runs before any other Airflow component starts (docker-compose.yml), and
# what scripts/prod_local.py runs for the process-based run: refuse missing or placeholder
# secrets, migrate the metadata database (Airflow's tables and FAB's users and roles), create
# the single-slot writer pool and the first admin. Safe to run again on every `up`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python -m deploy.env_secrets check
airflow db migrate
airflow pools set duckdb_writer 1 "DuckDB allows one writing process: every task that opens the working database"
# The first admin (FAB's Admin role). Operators (role User: trigger, clear, mark runs) and
# viewers (role Viewer) are created by an admin in the UI (Security → Users) or with
# `airflow users create --role User|Viewer …`.
# (An existing user is left as it is: re-running init never resets a changed password.)
admin="${AIRFLOW_ADMIN_USERNAME:-admin}"
airflow users create --role Admin --username "$admin" --password "$AIRFLOW_ADMIN_PASSWORD" \
    --firstname Plan --lastname Admin --email "${AIRFLOW_ADMIN_EMAIL:-$admin@example.org}"
