"""What a publish adds for the people who read it (metrics.md, "Reader tables").

`warehouse/publish.py` copies the dbt marts listed in `READER_TABLES` like any published
table and then calls `add_reader_extras` once, with the working database as the default
catalog and the new file attached as `pub`:

- the views (`READER_VIEWS`: the labeled view, and the semantic layer's grains and time spine
  that MetricFlow queries, `warehouse/semantic.py`) are re-created in the new file from the
  working database's own view definitions (dbt writes them without the database name, so they
  resolve inside the published file); they hold no data of their own;
- two small quality tables for the dashboard's 数据质量 page, aggregated from the pipeline's
  ledger and quarantines: `quality_warnings` (checks that did not pass in the last runs) and
  `quarantine_summary` (records set aside at extraction, `meta.quarantine`, and by the
  staging rules of this build, `int_quarantined_records`, per source, column and reason). They carry
  counts and reasons only: never a quarantined value or record, so no personal data;
- for the people who send the S4 reports (`write_reporting_tables`): the S1 registry
  (`rural_centre_registry`) and who has not reported (`unreported_centres`), both dbt marts;
  the reasons table (`quarantine_reasons`, the seed `extract/reasons.py` reads); the sources'
  and datasets' names (`source_names`, from the registry `extract.sources`); and the return
  list (`report_returns`, 退回清单): every S4 row or file set aside, with its file (shown
  safely), sheet, row, centre, month, county, column, value as `shown_value` allows, the reason
  and what to change in Chinese and English, and whether a file received later fixed it.
  These are not counted in `publish_log.row_counts` (that stays the metrics' and reader tables');
- the facts and dimensions (`FACT_TABLES`, dbt marts in marts/facts/): the records behind the
  metrics at each business event's grain, exactly those the metrics count, without personal
  data; copied like the reporting marts, outside `publish_log.row_counts` too;
- every table, view and column gets its comment (Chinese, then English): dbt's persist_docs
  wrote them into the working database, and `CREATE TABLE … AS` does not carry them over.

dbt's docs site (`dbt docs generate --static`, one HTML file) is generated right after each
successful dbt build (`warehouse.transform.generate_docs`) and copied beside
the published database at the publish (`write_docs`), where the dashboard serves it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from settings import Settings
from settings.duck import relation_exists

log = logging.getLogger(__name__)

SCHEMA = "metrics"
# dbt marts copied into the published file as tables (see publish.py)
READER_TABLES = ("regions", "plan_measures", "publish_context")
# views re-created in the new file (after the tables they read): the labeled view, and the
# semantic layer's grains and time spine (dbt marts in marts/semantic/, queried by MetricFlow)
READER_VIEWS = (
    "plan_metric_values_labeled",
    "sem_stop_months",
    "sem_centre_months",
    "sem_ledger_prefecture_months",
    "metricflow_time_spine",
)
QUALITY_RUNS = 20  # quality_warnings covers the checks of this many most recent gate runs
DOCS_NAME = "plan_metrics_docs.html"

QUALITY_DDL = """
create table {c}.metrics.quality_warnings (
    run_id varchar, checked_at timestamptz, layer varchar, suite varchar, check_name varchar,
    table_name varchar, severity varchar, observed varchar, observed_value double);
create table {c}.metrics.quarantine_summary (
    stage varchar, source varchar, endpoint varchar, column_name varchar, reason varchar, records bigint,
    files bigint, first_quarantined_at timestamptz, last_quarantined_at timestamptz);
"""
QUALITY_WARNINGS_SQL = """
insert into {c}.metrics.quality_warnings
with runs as (
    select run_id, max(checked_at) as last_checked from meta.quality_checks
    group by run_id order by last_checked desc limit {runs}
)
select q.run_id, q.checked_at, q.layer, q.suite, q.check_name, q.table_name, q.severity,
       q.observed, q.observed_value
from meta.quality_checks q join runs using (run_id)
where not q.success
order by q.checked_at desc, q.layer, q.check_name
"""
QUARANTINE_SQL = """
insert into {c}.metrics.quarantine_summary
select 'extract', source, endpoint, coalesce(column_name, ''), left(reason, 300),
       count(*), count(distinct file), min(quarantined_at), max(quarantined_at)
from meta.quarantine
group by all
order by all
"""
# the staging rules' set-aside records are recomputed by every build: as of this publish
STAGING_QUARANTINE_SQL = """
insert into {c}.metrics.quarantine_summary
select 'staging', source, table_name, coalesce(column_name, ''), left(reason, 300),
       count(*), count(distinct file), null, null
from intermediate.int_quarantined_records
group by all
order by all
"""

# dbt marts for the senders of the S4 reports, copied beside the metrics (not in row_counts)
REPORTING_MARTS = ("rural_centre_registry", "unreported_centres")
# dbt marts of the records behind the metrics (marts/facts/), copied beside them (not in row_counts)
FACT_TABLES = (
    "fact_orders",
    "fact_roadshows",
    "fact_roadshow_projects",
    "fact_stop_days",
    "fact_rural_centre_reports",
    "fact_ledger_activities",
    "fact_ledger_targets",
    "dim_stops",
    "dim_service_teams",
    "dim_months",
    # "why is this number X?": how each metric follows from the facts, and what was set aside
    "metric_facts",
    "set_aside_records",
)
# The landing runs the facts' source_manifest_id name (meta.loaded_manifests with what the
# extract and the load counted): counts, ids and times only, no file name.
SOURCE_RUNS_SQL = """
create table {c}.metrics.source_runs as
with files as (
    select manifest_id, count(*) as files, count(*) filter (where status <> 'accepted') as files_refused
    from meta.received_files group by manifest_id
)
select m.manifest_id, m.source, m.endpoint, m.run_key, m.landed_at, m.loaded_at, m.row_count as rows_landed,
       e.interval_start, e.interval_end, e.records_received, e.new_records, e.updated_records,
       e.quarantined, f.files, f.files_refused
from meta.loaded_manifests as m
left join meta.extract_runs as e using (manifest_id)
left join files as f using (manifest_id)
where m.manifest_id in ({used})
order by m.source, m.endpoint, m.landed_at, m.manifest_id
"""
REPORTS_SOURCE = "rural_centre_reports"

REPORTING_DDL = """
create table {c}.metrics.quarantine_reasons (
    reason_key varchar, applies_to varchar, in_columns varchar, pattern varchar,
    text_zh varchar, text_en varchar, fix_zh varchar, fix_en varchar);
create table {c}.metrics.source_names (
    source varchar, dataset varchar, source_code varchar, source_name_zh varchar, source_name_en varchar,
    dataset_name_zh varchar, dataset_name_en varchar);
create table {c}.metrics.report_returns (
    county_code varchar, file varchar, received_at timestamptz, sheet varchar, row_number bigint,
    centre_id varchar, school_name varchar, report_month date, column_name varchar, value varchar,
    stage varchar, reason_key varchar, reason_zh varchar, reason_en varchar, fix_zh varchar, fix_en varchar,
    fixed boolean, fixed_by_file varchar);
"""
# The return list: rows set aside at extraction (meta.quarantine, with the identity the parser
# kept in `record`), by the staging rules of this build, and files refused whole. A row is
# fixed when a file received later holds an accepted report of the same centre and month (the
# folder's month, sources.md `<YYYY-MM>/`, when the row's own month is unreadable or out of
# range); a refused file when a later version under the same name was accepted.
RETURNS_SQL = """
insert into {c}.metrics.report_returns
with received as (
    select f.manifest_id, f.file_path, f.received_seq, f.status, m.landed_at
    from meta.received_files as f
    inner join meta.loaded_manifests as m using (manifest_id)
    where f.source = '{source}'
),
accepted as (
    select centre_id, report_month, source_file_path, source_landed_at, source_received_seq
    from intermediate.int_rural_centre_reports_checked
    where quarantine_reason is null
),
set_aside as (
    select case when q.endpoint = '_file' then 'file' else 'extract' end as stage, q.file,
           q.record ->> 'sheet' as sheet, q.row_number, q.record ->> 'centre_id' as centre_id,
           try_cast(q.record ->> 'report_month' as date) as report_month,
           q.record ->> 'county_code' as row_county, q.column_name, q.value, q.reason,
           coalesce(q.reason_key, {quarantine_key}) as reason_key, r.landed_at, r.received_seq
    from meta.quarantine as q
    left join received as r on r.manifest_id = q.manifest_id and r.file_path = q.file
    where q.source = '{source}' and q.endpoint in ('reports', '_file')
    union all
    select 'staging', source_file_path, source_sheet, source_row_number, centre_id, report_month, county_code,
           quarantine_column, quarantine_value, quarantine_reason, quarantine_reason_key, source_landed_at,
           source_received_seq
    from intermediate.int_rural_centre_reports_checked
    where quarantine_reason is not null
),
placed as (
    select s.*, coalesce(s.row_county, g.county_code) as county_code, g.school_name,
           case when s.reason_key = 'month_out_of_range' or s.report_month is null
                then try_cast(regexp_extract(s.file, '^{source}/([0-9]{{4}}-[0-9]{{2}})/', 1) || '-01' as date)
                else s.report_month end as fix_month
    from set_aside as s
    left join staging.stg_scipop_platform__rural_centres as g using (centre_id)
),
fixes as (
    select p.file, p.row_number, p.stage, p.landed_at, p.received_seq, min(a.source_file_path) as fixed_by_file
    from placed as p
    inner join accepted as a
        on a.centre_id = p.centre_id and a.report_month = p.fix_month
       and (a.source_landed_at > p.landed_at
            or (a.source_landed_at = p.landed_at and a.source_received_seq > p.received_seq))
    where p.stage <> 'file'
    group by all
    union all
    select p.file, p.row_number, p.stage, p.landed_at, p.received_seq, min(r.file_path)
    from placed as p
    inner join received as r
        on r.file_path = p.file and r.status = 'accepted'
       and (r.landed_at > p.landed_at or (r.landed_at = p.landed_at and r.received_seq > p.received_seq))
    where p.stage = 'file'
    group by all
)
select p.county_code, p.file, p.landed_at, p.sheet, p.row_number, p.centre_id, p.school_name, p.report_month,
       p.column_name, p.value, p.stage, p.reason_key, k.text_zh, k.text_en,
       replace(k.fix_zh, '{{detail}}', {detail}), replace(k.fix_en, '{{detail}}', {detail}),
       f.fixed_by_file is not null, f.fixed_by_file
from placed as p
left join reference.quarantine_reasons as k using (reason_key)
left join fixes as f
    on f.file = p.file and f.stage = p.stage and f.row_number is not distinct from p.row_number
   and f.landed_at is not distinct from p.landed_at and f.received_seq is not distinct from p.received_seq
order by p.county_code nulls last, p.landed_at, p.file, p.row_number nulls first
"""

# Comments of the tables the publish itself writes (dbt documents the others).
PUBLISH_COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "publish_log": (
        "发布记录 — one row per publish: when, the sources' watermarks, row counts and the quality gate's check counts.",
        {
            "publish_id": "发布批次 — the publish's id (plan_metric_values.publish_id).",
            "published_at": "发布时间 — when the file was swapped in (UTC timestamp).",
            "source_watermarks": "数据源水位 — JSON: per source/endpoint, the newest updated_at the pipeline has read.",
            "row_counts": "行数 — JSON: rows per published table.",
            "checks_passed": "通过的检查数 — quality checks (dbt tests and Great Expectations) that passed.",
            "checks_failed": "未通过的检查数 — checks that failed; only warnings can fail in a publish.",
            "dbt_invocation_id": "建模运行编号 — the dbt invocation that built the tables.",
        },
    ),
    "quality_warnings": (
        "质量告警 — quality checks that did not pass in the last quality-gate runs (warnings such as "
        "freshness, volume and quarantined records; a blocking failure stops its publish).",
        {
            "run_id": "运行编号 — the pipeline run (Airflow run id) whose gate ran the check.",
            "checked_at": "检查时间 — when the check ran.",
            "layer": "层级 — extract (quarantine counts), gx (Great Expectations) or dbt (dbt tests).",
            "suite": "检查集 — the suite (or, for extract, the landed run) the check belongs to.",
            "check_name": "检查名称 — what was checked.",
            "table_name": "表 — the table the check looked at.",
            "severity": "严重程度 — warn (publish goes on) or block (that run did not publish).",
            "observed": "观测结果 — what the check saw, in words.",
            "observed_value": "观测值 — the number behind it, for trends.",
        },
    ),
    "quarantine_summary": (
        "隔离记录汇总 — source records set aside with a reason instead of being published, counted per "
        "stage, source, column and reason (counts only: no values, no personal data).",
        {
            "stage": "环节 — extract (set aside when received) or staging (set aside by a dbt rule in this build).",
            "source": "数据源 — the source system (sources.md).",
            "endpoint": "数据集 — the endpoint or drop-folder table (_file: a whole file rejected).",
            "column_name": "字段 — the column that was wrong (empty for a whole record or file).",
            "reason": "原因 — why it was quarantined.",
            "records": "记录数 — records (or files) quarantined for this reason.",
            "files": "文件数 — distinct spreadsheet files they came from (0 for API sources).",
            "first_quarantined_at": "首次隔离时间 — the first time (extract; staging records are as of this build).",
            "last_quarantined_at": "最近隔离时间 — the latest time (extract).",
        },
    ),
    "quarantine_reasons": (
        "隔离原因 — every reason a row, record or file is set aside: its Chinese and English text and what "
        "the sender should change (the one table the pipeline, the pre-check and the dashboard share).",
        {
            "reason_key": "原因代码 — the reason's key (report_returns.reason_key).",
            "applies_to": "适用对象 — row (a spreadsheet row), record (an API record) or file (a whole file).",
            "in_columns": "适用字段 — the columns the reason applies to, separated by | (empty: any).",
            "pattern": "匹配规则 — the regular expression the pipeline's English reason (quarantine_summary.reason) "
            "matches; the first reason that matches gives the key.",
            "text_zh": "原因 — the reason in Chinese.",
            "text_en": "原因（英文） — the reason in English.",
            "fix_zh": "如何修改 — what the sender should change, in Chinese ({detail}: what the reason names).",
            "fix_en": "如何修改（英文） — what the sender should change, in English.",
        },
    ),
    "source_names": (
        "数据源名称 — every source and dataset with its Chinese and English name (what the quality and "
        "reporting pages show instead of the registry names).",
        {
            "source": "数据源 — the source's registry name (quarantine_summary.source).",
            "dataset": "数据集 — an endpoint or drop-folder table, or _file for a file refused whole.",
            "source_code": "数据源编号 — the contract's code, S1…S5.",
            "source_name_zh": "数据源名称 — the source's Chinese name.",
            "source_name_en": "数据源名称（英文） — the source's English name.",
            "dataset_name_zh": "数据集名称 — the dataset's Chinese name.",
            "dataset_name_en": "数据集名称（英文） — the dataset's English name.",
        },
    ),
    "source_runs": (
        "来源批次 — one row per landing run a published row came from (an API extract run or a "
        "drop-folder landing named by a fact's or set-aside record's source_manifest_id): where it "
        "came from, when it was landed and loaded, and what it held (counts, ids and times only: "
        "no file name, no value).",
        {
            "manifest_id": "批次编号 — the landing manifest (the facts' and set_aside_records' source_manifest_id).",
            "source": "数据源 — the source (source_names.source).",
            "endpoint": "数据集 — the API endpoint or drop-folder table (source_names.dataset).",
            "run_key": "运行标识 — the pipeline run that landed it (the Airflow run's interval key).",
            "landed_at": "落地时间 — when the run was written to the landing zone.",
            "loaded_at": "入库时间 — when it was loaded into the raw layer.",
            "rows_landed": "落地行数 — records or rows the run landed.",
            "interval_start": "抽取起点 — for an API run, the start of the interval it asked for.",
            "interval_end": "抽取终点 — for an API run, the end of that interval.",
            "records_received": "收到记录数 — for an API run, records the endpoint sent.",
            "new_records": "新增记录数 — records new to the raw layer.",
            "updated_records": "更新记录数 — new versions of records it held.",
            "quarantined": "隔离记录数 — records set aside when loaded.",
            "files": "文件数 — for a drop-folder run, files received.",
            "files_refused": "拒收文件数 — files refused whole.",
        },
    ),
    "report_returns": (
        "退回清单 — every row of a rural-centre monthly report (S4) set aside, and every report file refused "
        "whole, with where it is, why, what to change and whether a later file fixed it: ready to send back "
        "to the county (no personal data: names shown safely, values only as numbers, dates or codes).",
        {
            "county_code": "所属县区代码 — the county the row is for (the row's own, else the centre's in the "
            "S1 registry); null when neither is known (a file refused whole).",
            "file": "文件 — the file, relative to the drop folder, its name shown safely.",
            "received_at": "接收时间 — when the pipeline received the file (the landing run).",
            "sheet": "工作表 — the sheet the row is on.",
            "row_number": "行号 — the row as a person sees it in the file (null for a whole file).",
            "centre_id": "科技馆编号 — the centre the row reports (when it could be read).",
            "school_name": "学校名称 — the centre's school in the S1 registry.",
            "report_month": "报告月份 — the month the row states (when it could be read).",
            "column_name": "字段 — the column that is wrong (its header in the file).",
            "value": "填写的值 — what was written, only as a number, date or code (else its kind and length).",
            "stage": "环节 — extract (when the file was read), staging (a rule of this build) or file (refused whole).",
            "reason_key": "原因代码 — the reason's key (quarantine_reasons).",
            "reason_zh": "原因 — why it was set aside, in Chinese.",
            "reason_en": "原因（英文） — why it was set aside, in English.",
            "fix_zh": "如何修改 — what to change, in Chinese.",
            "fix_en": "如何修改（英文） — what to change, in English.",
            "fixed": "是否已更正 — true when a file received later holds an accepted report of the same centre "
            "and month (for a whole file: a later accepted version of it).",
            "fixed_by_file": "更正文件 — the file that fixed it.",
        },
    ),
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_quality_tables(conn, catalog: str) -> None:
    """Both quality tables, empty when the working database has no ledger or quarantine yet."""
    for statement in QUALITY_DDL.format(c=catalog).split(";"):
        if statement.strip():
            conn.execute(statement)
    if relation_exists(conn, "meta", "quality_checks"):
        conn.execute(QUALITY_WARNINGS_SQL.format(c=catalog, runs=QUALITY_RUNS))
    if relation_exists(conn, "meta", "quarantine"):
        conn.execute(QUARANTINE_SQL.format(c=catalog))
    if relation_exists(conn, "intermediate", "int_quarantined_records"):
        conn.execute(STAGING_QUARANTINE_SQL.format(c=catalog))


def write_reporting_tables(conn, catalog: str) -> None:
    """The tables for the senders of the S4 reports (see the module's docstring); the dbt ones
    only when this working database has them (one built before those marts existed does not)."""
    from extract import reasons, sources

    for statement in REPORTING_DDL.format(c=catalog).split(";"):
        if statement.strip():
            conn.execute(statement)
    for name in REPORTING_MARTS:
        if relation_exists(conn, SCHEMA, name):
            conn.execute(f"create table {catalog}.{SCHEMA}.{name} as select * from {SCHEMA}.{name}")
    conn.executemany(
        f"insert into {catalog}.metrics.source_names values (?, ?, ?, ?, ?, ?, ?)", sources.dataset_names()
    )
    if not relation_exists(conn, "reference", "quarantine_reasons"):
        return
    conn.execute(
        f"insert into {catalog}.metrics.quarantine_reasons select reason_key, applies_to, in_columns, pattern, "
        "text_zh, text_en, fix_zh, fix_en from reference.quarantine_reasons"
    )
    needed = [("meta", "quarantine"), ("meta", "received_files"), ("intermediate", "int_rural_centre_reports_checked")]
    if all(relation_exists(conn, schema, name) for schema, name in needed):
        conn.execute(
            RETURNS_SQL.format(
                c=catalog,
                source=REPORTS_SOURCE,
                quarantine_key=reasons.key_sql("q.reason", "q.column_name"),
                detail=reasons.detail_sql("p.reason", "p.reason_key"),
            )
        )


def _extract_set_aside_sql(conn, catalog: str) -> str:
    """Spreadsheet rows set aside when they were read (meta.quarantine), as set_aside_records
    rows: what identifies them (`spreadsheets.IDENTITY`: codes and dates the parser checked),
    the month and region they were for (a report's county, else its centre's in the registry),
    the reason's key, the landing run, file (shown safely), sheet and row. Tables without a
    month (the targets) are left out: no metric value is made of them."""
    from extract.spreadsheets import IDENTITY

    branches = []
    for table, identity in IDENTITY.items():
        dated = [c for c in identity if c.endswith(("_month", "_date"))]
        if not dated:
            continue
        month = f"cast(date_trunc('month', try_cast(q.record ->> '{dated[0]}' as date)) as date)"
        region = next((f"q.record ->> '{c}'" for c in identity if c in ("county_code", "region_code")), "null")
        if "centre_id" in identity and relation_exists(conn, SCHEMA, "rural_centre_registry"):
            region = f"coalesce({region}, (select g.county_code from {SCHEMA}.rural_centre_registry as g where g.centre_id = q.record ->> 'centre_id'))"
        key = ", ".join(f"q.record ->> '{c}'" for c in identity)
        metric = "q.record ->> 'metric_id'" if "metric_id" in identity else "cast(null as varchar)"
        branches.append(
            f"select 'extract', q.source, q.endpoint, concat_ws('@', {key}), {metric}, {region}, "
            f"'{dated[0].removesuffix('_date').removesuffix('_month')}_month', {month}, q.column_name, q.reason_key, "
            f"q.manifest_id, q.file, q.record ->> 'sheet', q.row_number from meta.quarantine as q where q.endpoint = '{table}' and q.row_number is not null"
        )
    return f"insert into {catalog}.{SCHEMA}.set_aside_records\n" + "\nunion all ".join(branches)


def write_fact_tables(conn, catalog: str) -> None:
    """The facts and dimensions this working database has (one built before they existed has none),
    and the landing runs their rows came from (`source_runs`)."""
    for name in FACT_TABLES:
        if relation_exists(conn, SCHEMA, name):
            conn.execute(f"create table {catalog}.{SCHEMA}.{name} as select * from {SCHEMA}.{name}")
    if relation_exists(conn, SCHEMA, "set_aside_records") and relation_exists(conn, "meta", "quarantine"):
        conn.execute(_extract_set_aside_sql(conn, catalog))
    if all(relation_exists(conn, "meta", t) for t in ("loaded_manifests", "extract_runs", "received_files")):
        conn.execute(SOURCE_RUNS_SQL.format(c=catalog, used=_runs_used(conn, catalog)))


def _runs_used(conn, catalog: str) -> str:
    """The landing runs a published row names (a fact's or a set-aside record's
    `source_manifest_id`): `source_runs` lists those, so it grows with the data, not with the
    hourly runs that found nothing new (and a run that changed nothing changes no table)."""
    tables = conn.execute(
        "select distinct table_name from duckdb_columns() where database_name = ? and schema_name = ? "
        "and column_name = 'source_manifest_id' order by 1",
        [catalog, SCHEMA],
    ).fetchall()
    return " union ".join(f"select source_manifest_id from {catalog}.{SCHEMA}.{t}" for (t,) in tables) or "null"


def copy_views(conn, catalog: str) -> None:
    """Re-create the reader views inside the new file from their definitions in the working database."""
    working = conn.execute("select current_database()").fetchone()[0]
    for name, sql in conn.execute(
        "select view_name, sql from duckdb_views() where database_name = current_database() "
        "and schema_name = ? and list_contains(?, view_name)",
        [SCHEMA, list(READER_VIEWS)],
    ).fetchall():
        head = f"CREATE VIEW {SCHEMA}.{name} AS "
        body = sql.strip().removesuffix(";")
        if not body.startswith(head) or f"{working}." in body or f'"{working}"' in body:
            raise RuntimeError(
                f"view {SCHEMA}.{name} cannot be published: its SQL must name tables as metrics.<table> "
                f"(ref(...).include(database=False) in dbt), not through the working database {working!r}: {sql[:300]}"
            )
        conn.execute(f"create view {catalog}.{SCHEMA}.{name} as {body[len(head) :]}")


def copy_comments(conn, catalog: str) -> int:
    """Comment every relation and column of the new file's `metrics` schema; returns how many."""
    source = {
        (name, col): comment
        for name, col, comment in conn.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? and comment is not null",
            [SCHEMA],
        ).fetchall()
    }
    for name, comment in conn.execute(
        "select table_name, comment from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and comment is not null "
        "union all select view_name, comment from duckdb_views() where database_name = current_database() "
        "and schema_name = ? and comment is not null",
        [SCHEMA, SCHEMA],
    ).fetchall():
        source[(name, None)] = comment
    for name, (table_comment, columns) in PUBLISH_COMMENTS.items():
        source[(name, None)] = table_comment
        source.update({(name, col): c for col, c in columns.items()})

    relations = conn.execute(
        "select table_name, 'table' from duckdb_tables() where database_name = ? and schema_name = ? "
        "union all select view_name, 'view' from duckdb_views() where database_name = ? and schema_name = ?",
        [catalog, SCHEMA, catalog, SCHEMA],
    ).fetchall()
    done = 0
    for name, kind in relations:
        if source.get((name, None)):
            conn.execute(f"comment on {kind} {catalog}.{SCHEMA}.{name} is {_quote(source[(name, None)].strip())}")
            done += 1
        for (col,) in conn.execute(
            "select column_name from duckdb_columns() where database_name = ? and schema_name = ? and table_name = ?",
            [catalog, SCHEMA, name],
        ).fetchall():
            if source.get((name, col)):
                conn.execute(
                    f'comment on column {catalog}.{SCHEMA}.{name}."{col}" is {_quote(source[(name, col)].strip())}'
                )
                done += 1
    return done


def add_reader_extras(conn, catalog: str = "pub") -> None:
    """Called by publish() once the tables and the publish log are in the new file."""
    write_quality_tables(conn, catalog)
    write_reporting_tables(conn, catalog)
    write_fact_tables(conn, catalog)
    copy_views(conn, catalog)
    copy_comments(conn, catalog)


def write_docs(settings: Settings, published_dir: Path) -> Path | None:
    """Put the docs page of the build being published beside the published file (atomically).

    Only a page generated after the build's manifest is copied: a stale page (its generation
    failed) is left out with a warning, and the previous published page stays."""
    target = settings.dbt_dir / "target"
    page, manifest = target / "static_index.html", target / "manifest.json"
    if not page.exists() or not manifest.exists() or page.stat().st_mtime_ns < manifest.stat().st_mtime_ns:
        log.warning("no docs page of this build in %s: the published docs page was not replaced", target)
        return None
    out = Path(published_dir) / DOCS_NAME
    staged = out.with_name(f".{DOCS_NAME}.tmp")
    shutil.copyfile(page, staged)
    os.replace(staged, out)
    return out
