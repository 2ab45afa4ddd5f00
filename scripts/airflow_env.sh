# Sourced by the Makefile's scripts: one Airflow environment for the embedded run.
# Airflow's metadata is SQLite under the data folder; the DAGs come from ./dags.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PLAN_METRICS_DATA_DIR="${PLAN_METRICS_DATA_DIR:-$REPO/data}"
export PLAN_METRICS_INCOMING_DIR="${PLAN_METRICS_INCOMING_DIR:-$REPO/incoming}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PLAN_METRICS_DATA_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export PATH="$REPO/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME" "$PLAN_METRICS_DATA_DIR" "$PLAN_METRICS_INCOMING_DIR"
