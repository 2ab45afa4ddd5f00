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
# OpenLineage: an event per task, with its datasets (dags/plan_dag_lib/lineage.py), through the
# pipeline's transport (warehouse/lineage.py: files under $PLAN_METRICS_DATA_DIR/lineage/, or
# OPENLINEAGE_URL's backend when set); the same as deploy/airflow.env
export OPENLINEAGE__TRANSPORT__TYPE="${OPENLINEAGE__TRANSPORT__TYPE:-warehouse.lineage.SettingsTransport}"
export AIRFLOW__OPENLINEAGE__EXTRACTORS="${AIRFLOW__OPENLINEAGE__EXTRACTORS:-plan_dag_lib.lineage.TaskLineage}"
export AIRFLOW__OPENLINEAGE__NAMESPACE="${AIRFLOW__OPENLINEAGE__NAMESPACE:-${OPENLINEAGE_NAMESPACE:-plan_metrics}}"
export AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD="${AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD:-True}"
export PATH="$REPO/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME" "$PLAN_METRICS_DATA_DIR" "$PLAN_METRICS_INCOMING_DIR"
