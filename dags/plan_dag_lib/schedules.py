"""When each kind of DAG runs, and how long its runs and tasks may take.

Timetables are explicit (`CronDataIntervalTimetable`) rather than cron strings: a cron
string's meaning depends on `[scheduler] create_cron_data_intervals`, and the pipeline
needs real data intervals — each run lands under its interval's key, which is what makes
re-running an interval reuse what that interval received. Times are Beijing time, the
sources' own zone.

- Orders (S3) change all day and feed the service-order dashboards: hourly.
- The other APIs (S1 science-popularisation, S2 roadshows) are updated in office batches:
  daily at 02:00, after the sources' nightly jobs.
- Drop folders (S4, S5) are polled every 15 minutes by a cheap listing of the folder; the
  load emits the raw Asset only when a new or changed file was loaded, so a quiet folder
  costs one short run and never a transform. Why not an AssetWatcher: the only file event
  triggers that ship with Airflow 3.3 (`FileDeleteTrigger`, `DirectoryFileDeleteTrigger`)
  delete the file they saw, and the drop folder is the schools' upload area, mounted
  read-only in production; a custom trigger would have to run in the triggerer with the
  same listing logic and no gain at a 15-minute latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable

BEIJING = "Asia/Shanghai"


@dataclass(frozen=True)
class Cadence:
    """A cron schedule in Beijing time and how long one of its runs may take.

    A run that outlives `dagrun_timeout` is failed rather than allowed to hold up the next
    ones (max_active_runs=1 queues them behind it).
    """

    cron: str
    dagrun_timeout: timedelta

    def timetable(self) -> CronDataIntervalTimetable:
        return CronDataIntervalTimetable(self.cron, timezone=BEIJING)


HOURLY = Cadence("0 * * * *", timedelta(minutes=55))
DAILY = Cadence("0 2 * * *", timedelta(hours=6))
DROP_FOLDER = Cadence("*/15 * * * *", timedelta(minutes=30))

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
