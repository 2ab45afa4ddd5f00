#!/usr/bin/env bash
# What `airflow-init` runs before any other Airflow component starts (docker-compose.yml), and
# what deploy/local_stack runs for the process-based run: refuse missing, placeholder or weak
# secrets among those this container was given, migrate the metadata database (Airflow's tables
# and FAB's users and roles), create the single-slot writer pool, then the roles of
# deploy/roles.py (Reporter, one `county-<code>-<name>` per county) and the first admin. Safe to
# run again on every `up`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python -m deploy.env_secrets check AIRFLOW_FERNET_KEY=AIRFLOW__CORE__FERNET_KEY AIRFLOW_ADMIN_PASSWORD
airflow db migrate
airflow pools set duckdb_writer 1 "DuckDB allows one writing process: every task that opens the working database"
# The first admin (FAB's Admin role), its password read from AIRFLOW_ADMIN_PASSWORD (or the file
# AIRFLOW_ADMIN_PASSWORD_FILE names) by Python, never put on a command line where `ps` would show
# it. Operators (role User), viewers (Viewer) and county reporters (Reporter + their county-…
# roles) are created by an admin in the UI (Security → Users).
# (An existing user is left as it is: re-running init never resets a changed password.)
python -m deploy.accounts init
