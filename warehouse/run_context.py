"""What one transform-and-publish run is for: its publish id and the instant its data is as of.

`run_context()` is the one pure function that computes it — the transform DAG, the
benchmark and the tests call it with what they know (the Airflow run id, when the run was
due, an "as of" override, the data interval end) — and `record()` writes it to
`meta.run_context`, the row dbt's models read (macros/run_context.sql): passing them as
dbt vars would change dbt's parse inputs every run and cost a full re-parse.

"As of" is never the wall clock: the run's data interval end, or an explicit instant
(the `as_of` DAG param, `PLAN_METRICS_AS_OF`), so re-runs and backfills compute the same
tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from extract.beijing_time import local_date, month_start, parse_ts
from settings import Settings, duck
from warehouse import meta

PLAN_START = date(2020, 7, 1)


@dataclass(frozen=True)
class RunContext:
    run_id: str
    publish_id: str
    as_of: datetime  # an aware instant
    # the OpenLineage run of the Airflow task doing the work, (namespace, job name, run id):
    # dbt's lineage events name it as their parent, so a catalog nests the models in the task
    lineage_parent: tuple[str, str, str] | None = None

    @property
    def as_of_date(self) -> date:
        """The Beijing-time day the data is as of."""
        return local_date(self.as_of)

    @property
    def as_of_month(self) -> date:
        """The Beijing-time month the data is as of: the last month a published row may have."""
        return month_start(self.as_of)

    def plan_months(self) -> list[str]:
        """'YYYY-MM-01' for every month from the plan's start through the as-of month."""
        months, d = [], PLAN_START
        while d <= self.as_of_month:
            months.append(d.isoformat())
            d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
        return months

    def record(self, settings: Settings) -> None:
        """Write the row dbt reads (one short connection, closed before dbt opens the file)."""
        with duck.connect(settings.working_db, settings) as conn:
            meta.ensure(conn)
            conn.execute("begin transaction")
            conn.execute("delete from meta.run_context")
            conn.execute("insert into meta.run_context values (?, ?)", [self.publish_id, self.as_of_date])
            conn.execute("commit")


def run_context(
    run_id: str,
    run_after: datetime,
    as_of: datetime | str | None = None,
    data_interval_end: datetime | None = None,
) -> RunContext:
    """The run's context: as of `as_of` if given, else the data interval end, else when the
    run was due. The publish id names when the run was due and (a hash of) which run it is,
    so a retried task keeps its publish id and two runs never share one."""
    if isinstance(as_of, str):
        as_of = parse_ts(as_of)
    instant = as_of or data_interval_end or run_after
    digest = hashlib.sha1(run_id.encode()).hexdigest()[:6]
    return RunContext(run_id=run_id, publish_id=f"p{run_after:%Y%m%dT%H%M%S}-{digest}", as_of=instant)
