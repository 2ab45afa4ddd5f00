"""Beijing time (UTC+8), the zone every source and every published month is in (sources.md).

The one definition of it in the pipeline: a fixed offset, which is correct because China has
had no daylight saving since 1991, plus its tz database name for Airflow's timetables. dbt's
copy is the `beijing_local` macro (SQL cannot import this).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
TZ_NAME = "Asia/Shanghai"  # the same zone for libraries that want a name (Airflow timetables)


def parse_ts(text: str) -> datetime:
    """An ISO 8601 instant; one without an offset is Beijing time (the sources' zone)."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)


def iso(dt: datetime) -> str:
    """An instant as ISO 8601 in Beijing time (how the sources write them)."""
    return dt.astimezone(BEIJING).isoformat()


def local_date(dt: datetime) -> date:
    return dt.astimezone(BEIJING).date()


def month_start(dt: datetime) -> date:
    """The first day of the instant's Beijing-time month."""
    return local_date(dt).replace(day=1)
