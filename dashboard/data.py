"""The published file, as the dashboard reads it: read-only, reopened when a publish lands.

A publish swaps a new file in with `os.replace`, so the path stays the same while the file
behind it changes. Every page run asks `PublishedDatabase.current()`, which compares the
file's identity (inode, size, mtime) with the one it opened and opens the new file when it
differs; the publish id shown comes from that file's own `metrics.publish_log`.

Each reader is a fresh in-memory DuckDB with the file ATTACHed read-only: DuckDB's Python
module caches database instances by path, so `duckdb.connect(path)` after a swap could hand
back the old file. Queries run on a cursor of their own (one per call), which is what lets
Streamlit's session threads share one reader.

Every function here takes a reader and returns a pandas DataFrame or plain values; the pages
format them and the benchmark times them. Values are returned exactly as published: medians
and ratios are never re-aggregated here.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from settings.duck import relation_exists

PROVINCE = "420000"


def published_path() -> Path:
    """`$PLAN_METRICS_DATA_DIR/published/plan_metrics.duckdb` (default `./data`), as the pipeline writes it."""
    from settings import Settings

    return Settings.from_env().published_db


def docs_path(db: Path) -> Path:
    """The dbt docs page (one static HTML file) written beside the published file at each publish."""
    return db.parent / "plan_metrics_docs.html"


class NothingPublished(RuntimeError):
    """No published file at the path yet (the pipeline has not published)."""


@dataclass
class Reader:
    """One opened version of the published file."""

    path: Path
    identity: tuple
    conn: duckdb.DuckDBPyConnection
    publish_id: str | None
    published_at: object = None
    opened: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            cur = self.conn.cursor()
        cur.execute("use published")
        return cur

    def df(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """The result as a DataFrame (`params` positional, or named for `$name`); DATE columns stay
        `datetime.date` (pandas would make them timestamps)."""
        cur = self.cursor()
        try:
            rel = cur.execute(sql, params or [])
            dates = [d[0] for d in rel.description if str(d[1]) == "DATE"]
            df = rel.df()
        finally:
            cur.close()
        for col in dates:
            df[col] = [None if pd.isna(x) else x.date() for x in df[col]]
        return df

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    def has(self, table: str) -> bool:
        cur = self.cursor()
        try:
            return relation_exists(cur, "metrics", table, database="published")
        finally:
            cur.close()


def _identity(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def open_reader(path: Path) -> Reader:
    import time

    identity = _identity(path)
    conn = duckdb.connect(":memory:")
    conn.execute(f"attach '{path}' as published (read_only)")
    conn.execute("use published")
    last = conn.execute(
        "select publish_id, published_at from metrics.publish_log order by published_at desc limit 1"
    ).fetchone()
    return Reader(path, identity, conn, *(last or (None, None)), opened=time.time())


class PublishedDatabase:
    """The published file for the whole process: one reader, replaced when the file is."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._reader: Reader | None = None
        self._lock = threading.Lock()

    def current(self) -> Reader:
        if not self.path.exists():
            raise NothingPublished(str(self.path))
        identity = _identity(self.path)
        with self._lock:
            if self._reader is None or self._reader.identity != identity:
                # The old reader is dropped, not closed: a page still running on it keeps its
                # cursor (and so the old file) until it finishes, then the file is let go.
                self._reader = open_reader(self.path)
            return self._reader


# --- what the pages ask --------------------------------------------------------------------
def publish_info(r: Reader) -> dict:
    """The latest publish: id, time, source watermarks, row counts, checks, and the "as of" day."""
    row = r.rows(
        "select publish_id, published_at, source_watermarks, row_counts, checks_passed, checks_failed "
        "from metrics.publish_log order by published_at desc limit 1"
    )
    info: dict = {"publish_id": None}
    if row:
        pid, at, wm, counts, passed, failed = row[0]
        info = {
            "publish_id": pid,
            "published_at": at,
            "watermarks": json.loads(wm) if isinstance(wm, str) else (wm or {}),
            "row_counts": json.loads(counts) if isinstance(counts, str) else (counts or {}),
            "checks_passed": passed,
            "checks_failed": failed,
        }
    info["as_of_date"] = None
    if r.has("publish_context"):
        ctx = r.rows("select as_of_date from metrics.publish_context limit 1")
        info["as_of_date"] = ctx[0][0] if ctx else None
    latest = r.rows("select max(period_month) from metrics.plan_metric_values")
    info["latest_month"] = latest[0][0] if latest else None
    return info


# A file published before the reader tables existed (`make rollback` to an old publish) has
# no plan_measures or regions: the pages then show codes where names would be.
def measures(r: Reader) -> pd.DataFrame:
    if r.has("plan_measures"):
        return r.df("select * from metrics.plan_measures order by measure_code")
    return r.df(
        "select distinct measure_code, measure_code as title_zh, measure_code as title_en "
        "from metrics.metric_catalog order by 1"
    )


def catalog(r: Reader) -> pd.DataFrame:
    return r.df("select * from metrics.metric_catalog order by measure_code, metric_id")


def regions(r: Reader) -> pd.DataFrame:
    if r.has("regions"):
        return r.df("select * from metrics.regions order by region_code")
    return r.df(
        "select distinct region_code, region_code as name_zh, region_level as level, "
        "cast(null as varchar) as parent_code, case when region_level = 'prefecture' then region_code end "
        "as prefecture_code from metrics.plan_metric_values order by 1"
    )


def _regions_sql(r: Reader) -> str:
    """A relation with region_code, name_zh, prefecture_code, whichever file this is."""
    if r.has("regions"):
        return "metrics.regions"
    return (
        "(select distinct region_code, region_code as name_zh, case when region_level = 'prefecture' "
        "then region_code end as prefecture_code from metrics.plan_metric_values)"
    )


def months(r: Reader, metric_id: str | None = None) -> list[date]:
    """Months with published data (of one metric, or of any), oldest first."""
    if metric_id:
        rows = r.rows(
            "select distinct period_month from metrics.plan_metric_values where metric_id = ? order by 1", [metric_id]
        )
    else:
        rows = r.rows("select distinct period_month from metrics.plan_metric_values order by 1")
    return [x[0] for x in rows]


def series(r: Reader, metric_id: str, region_code: str) -> pd.DataFrame:
    """One region's values by month, as published."""
    return r.df(
        "select period_month, value, unit from metrics.plan_metric_values "
        "where metric_id = ? and region_code = ? order by period_month",
        [metric_id, region_code],
    )


def by_region(r: Reader, metric_id: str, month: date, level: str, prefecture_code: str | None = None) -> pd.DataFrame:
    """Every region of a level with its value in one month (counties of one prefecture when given),
    largest first; regions without a published row are left out, never shown as zero."""
    sql = (
        "select v.region_code, g.name_zh, v.value, v.unit from metrics.plan_metric_values v "
        f"join {_regions_sql(r)} g using (region_code) "
        "where v.metric_id = ? and v.period_month = ? and v.region_level = ?"
    )
    params: list = [metric_id, month, level]
    if prefecture_code:
        sql += " and g.prefecture_code = ?"
        params.append(prefecture_code)
    return r.df(sql + " order by v.value desc, v.region_code", params)


def headline(r: Reader, metric_id: str) -> dict | None:
    """A card's numbers for a metric at the province: latest month, the month before, to date."""
    rows = r.rows(
        """
        select v.period_month, v.value, v.unit, c.additive_over_months
        from metrics.plan_metric_values v join metrics.metric_catalog c using (metric_id)
        where v.metric_id = ? and v.region_code = ?
        order by v.period_month
        """,
        [metric_id, PROVINCE],
    )
    if not rows:
        return None
    last_month, last, unit, additive = rows[-1]
    previous = None
    if len(rows) > 1:
        prev_month, prev_value = rows[-2][0], rows[-2][1]
        if (prev_month.year * 12 + prev_month.month) == (last_month.year * 12 + last_month.month) - 1:
            previous = prev_value
    return {
        "metric_id": metric_id,
        "month": last_month,
        "value": last,
        "previous": previous,
        "unit": unit,
        "additive": bool(additive),
        "to_date": sum(x[1] for x in rows) if additive else None,
        "trend": [(m, v) for m, v, *_ in rows],
    }


def progress(r: Reader) -> pd.DataFrame:
    if not r.has("plan_progress"):
        return pd.DataFrame()
    return r.df(
        f"""
        select p.measure_code, p.metric_id, c.name_zh as metric_name_zh, c.name_en as metric_name_en, c.unit,
               p.region_code, g.name_zh as region_name_zh, p.target_value, p.actual_to_date,
               p.completion_ratio, p.deadline, p.as_of_month
        from metrics.plan_progress p
        join metrics.metric_catalog c using (metric_id)
        left join {_regions_sql(r)} g using (region_code)
        order by p.measure_code, p.metric_id, p.region_code
        """
    )


def publishes(r: Reader, limit: int = 10) -> pd.DataFrame:
    return r.df(
        "select publish_id, published_at, checks_passed, checks_failed, row_counts, dbt_invocation_id "
        "from metrics.publish_log order by published_at desc limit ?",
        [limit],
    )


def quality_warnings(r: Reader) -> pd.DataFrame:
    if not r.has("quality_warnings"):
        return pd.DataFrame()
    return r.df("select * from metrics.quality_warnings order by checked_at desc, layer, check_name")


def quarantine(r: Reader) -> pd.DataFrame:
    if not r.has("quarantine_summary"):
        return pd.DataFrame()
    return r.df("select * from metrics.quarantine_summary order by source, records desc, reason")


def table_comments(r: Reader) -> pd.DataFrame:
    """What the published file says about itself: every relation of `metrics` and its comment."""
    return r.df(
        """
        select table_name as relation, 'table' as kind, comment from duckdb_tables()
        where database_name = 'published' and schema_name = 'metrics'
        union all
        select view_name, 'view', comment from duckdb_views()
        where database_name = 'published' and schema_name = 'metrics'
        order by 1
        """
    )


def column_comments(r: Reader, relation: str) -> pd.DataFrame:
    return r.df(
        "select column_name, data_type, comment from duckdb_columns() "
        "where database_name = 'published' and schema_name = 'metrics' and table_name = ? order by column_index",
        [relation],
    )


# --- for the people who send the S4 reports (the 数据报送 and 上传预检 pages) -----------------
def source_names(r: Reader) -> pd.DataFrame:
    """Every source and dataset with its Chinese and English names (empty for an older file)."""
    if not r.has("source_names"):
        return pd.DataFrame(columns=["source", "dataset", "source_name_zh", "source_name_en", "dataset_name_zh",
                                     "dataset_name_en"])  # fmt: skip
    return r.df("select * from metrics.source_names")


def reporting_counties(r: Reader) -> pd.DataFrame:
    """The counties that owe reports (a centre in the S1 registry) or have rows sent back, with
    their names and prefectures, ordered by code."""
    if not r.has("rural_centre_registry"):
        return pd.DataFrame(columns=["county_code", "name_zh", "prefecture_name"])
    returns = "union select county_code from metrics.report_returns" if r.has("report_returns") else ""
    return r.df(
        f"""
        with codes as (select county_code from metrics.rural_centre_registry {returns})
        select c.county_code, coalesce(g.name_zh, c.county_code) as name_zh, p.name_zh as prefecture_name
        from codes c
        left join {_regions_sql(r)} g on g.region_code = c.county_code
        left join {_regions_sql(r)} p on p.region_code = g.prefecture_code
        where c.county_code is not null
        order by c.county_code
        """
    )


def centres(r: Reader, county_code: str) -> pd.DataFrame:
    """The county's centres in the S1 registry, as published."""
    return r.df(
        "select centre_id, school_name, county_code, opened_on, status, is_active "
        "from metrics.rural_centre_registry where county_code = ? order by centre_id",
        [county_code],
    )


def registry_ids(r: Reader) -> frozenset[str] | None:
    """Every centre id of the published S1 registry (None for an older file without it)."""
    if not r.has("rural_centre_registry"):
        return None
    return frozenset(x[0] for x in r.rows("select centre_id from metrics.rural_centre_registry"))


def report_returns(r: Reader, county_code: str | None) -> pd.DataFrame:
    """The return list (退回清单) of a county, or of the files whose county is unknown (None):
    rows not yet fixed first, then by when they were received."""
    where = "county_code = ?" if county_code is not None else "county_code is null"
    return r.df(
        f"select * from metrics.report_returns where {where} order by fixed, received_at, file, row_number nulls first",
        [county_code] if county_code is not None else [],
    )


def unreported(r: Reader, county_code: str) -> pd.DataFrame:
    """Who of the county has not reported (未报送清单), newest month first."""
    return r.df(
        "select * from metrics.unreported_centres where county_code = ? order by period_month desc, centre_id",
        [county_code],
    )


def report_rate(r: Reader, county_code: str) -> pd.DataFrame:
    """The county's published rural_centre_report_rate by month (a county-level unit the pipeline
    publishes at prefecture level, 仙桃 and the like, under its own code)."""
    return r.df(
        "select period_month, value from metrics.plan_metric_values "
        "where metric_id = 'rural_centre_report_rate' and region_code = ? order by period_month",
        [county_code],
    )
