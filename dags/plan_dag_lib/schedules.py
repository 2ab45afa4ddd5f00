"""How each kind of DAG is scheduled, and how long its runs and tasks may take.

Each source's cadence (cron, Beijing time) is part of its registry entry
(`extract.sources`); this module turns it into an Airflow timetable. Timetables are
explicit (`CronDataIntervalTimetable`) rather than cron strings: a cron string's meaning
depends on `[scheduler] create_cron_data_intervals`, and the pipeline needs real data
intervals — each run lands under its interval's key, which is what makes re-running an
interval reuse what that interval received.

Drop folders (S4, S5) run on their cadence (every 15 minutes: the backstop) *and* on their
watcher's Asset (`plan_dag_lib.DROP_ASSETS`): a custom event trigger in the triggerer
(`pipeline/drop_watch.py`) lists the folder every few seconds, read-only, with the extract's
own listing and quiet rule, and fires once an upload has settled, so it is taken within
seconds of its quiet period. (The file triggers that ship with Airflow 3.3,
`FileDeleteTrigger` and `DirectoryFileDeleteTrigger`, delete the file they saw: the drop
folder is the schools' upload area, mounted read-only in production.)
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable

from extract.beijing_time import TZ_NAME
from extract.sources import Cadence


def timetable(cadence: Cadence) -> CronDataIntervalTimetable:
    return CronDataIntervalTimetable(cadence.cron, timezone=TZ_NAME)


# Per task kind: retries/backoff tuned to what fails. A source that is down comes back in
# minutes (long backoff); the writer lock is held by a sibling task for seconds (short).
EXTRACT_TASK = {
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=40),
}
WAREHOUSE_TASK = {
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=2),
    "execution_timeout": timedelta(minutes=20),
}
TRANSFORM_TASK = {**WAREHOUSE_TASK, "execution_timeout": timedelta(minutes=30)}
TRANSFORM_DAGRUN_TIMEOUT = timedelta(hours=1)
