"""
### Roll back the published file (re-publish an earlier publish)

Triggered by hand only — by an operator (role `User`) or an admin, in the UI (Trigger DAG) or
with `POST /api/v2/dags/rollback_publish/dagRuns` — so Airflow's audit log (Browse → Audit Log,
`GET /api/v2/eventLogs`) records who rolled back, when, and to which publish (the run's conf).
`to`: the publish_id to restore; empty restores the publish before the current one. The kept
copy is checked against its checksum and swapped in atomically, as a publish is
(`warehouse.publish.rollback`, the same code as `make rollback`).

**When it fails**
- "no publish before …" or "publish … is not in …": nothing changed; the task log lists the
  publishes kept in `published/history/` — trigger again with one of them as `to`.
- a checksum mismatch: that kept copy is damaged; nothing changed; pick another.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException
from pendulum import datetime
from plan_dag_lib import DEFAULT_ARGS, PUBLISHED_ASSET, WRITER_POOL, WRITER_QUEUE, alert_on_failure
from plan_dag_lib.schedules import TRANSFORM_DAGRUN_TIMEOUT, TRANSFORM_TASK


@dag(
    dag_id="rollback_publish",
    schedule=None,  # by hand only: every run is someone's decision, in the audit log
    start_date=datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=TRANSFORM_DAGRUN_TIMEOUT,
    # it swaps the published file: one at a time with publishes, on the writer's machine
    default_args={**DEFAULT_ARGS, **TRANSFORM_TASK, "queue": WRITER_QUEUE, "on_failure_callback": alert_on_failure},
    tags=["publish", "rollback"],
    doc_md=__doc__,
    params={
        "to": Param(
            None,
            type=["null", "string"],
            description="publish_id to restore (empty: the publish before the current one)",
        )
    },
)
def rollback_publish():
    @task(pool=WRITER_POOL, outlets=[PUBLISHED_ASSET])
    def rollback(**context) -> dict:
        from plan_dag_lib import task_settings

        from warehouse import publish

        settings = task_settings()
        to = (context.get("params") or {}).get("to") or None
        kept = [f.name for f in publish.list_history(settings.published_db)]
        try:
            restored = publish.rollback(settings, to)
        except SystemExit as exc:  # a wrong id or nothing to go back to: retrying cannot help
            raise AirflowFailException(f"{exc} (kept: {kept})") from exc
        return {"restored": restored.name, "publish_id": publish.current_publish_id(settings)}

    rollback()


rollback_publish()
