"""
### Notices to counties (off by default)

Once a week (Monday 09:00 Beijing time) each county named in the Apprise connection
`plan_metrics_county_notices` (its entries' `tag` is the county code) gets a digest: its
report rows set aside this month and not yet fixed, with its return list (退回清单) attached
as an XLSX, and its centres overdue for the latest month whose deadline has passed. Read
from the published file only (warehouse/notices.py); without the connection nothing is sent.

**When it fails**
- A county whose service refuses the message is logged (its URL masked) and the others are
  still sent; the task fails only when the published file cannot be read — clear it once a
  publish has landed. Nothing here touches the working database or the published file.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from pendulum import datetime
from plan_dag_lib import DEFAULT_ARGS, alert_on_failure
from plan_dag_lib.schedules import timetable

from extract.sources import Cadence

WEEKLY = Cadence("0 9 * * 1", timedelta(minutes=30), timedelta(days=7))


@dag(
    dag_id="county_notices",
    schedule=timetable(WEEKLY),
    start_date=datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=WEEKLY.dagrun_timeout,
    default_args={
        **DEFAULT_ARGS,
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=10),
        "on_failure_callback": alert_on_failure,
    },
    tags=["notices", "rural_centre_reports"],
    doc_md=__doc__,
)
def county_notices():
    @task
    def send_digests(**context) -> dict:
        from plan_dag_lib import task_settings
        from plan_dag_lib.notices import send_county_digests

        from extract.beijing_time import local_date

        end = context.get("data_interval_end") or context["dag_run"].run_after
        return send_county_digests(task_settings(), local_date(end))

    send_digests()


county_notices()
