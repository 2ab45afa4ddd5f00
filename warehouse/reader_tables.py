"""What a publish adds for the people who read it (metrics.md, "Reader tables").

`warehouse/publish.py` copies the dbt marts listed in `READER_TABLES` like any published
table and then calls `add_reader_extras` once, with the working database as the default
catalog and the new file attached as `pub`:

- the labeled view (`READER_VIEWS`) is re-created in the new file from the working
  database's own view definition (dbt writes it without the database name, so it resolves
  inside the published file);
- two small quality tables for the dashboard's 数据质量 page, aggregated from the pipeline's
  ledger and quarantines: `quality_warnings` (checks that did not pass in the last runs) and
  `quarantine_summary` (records set aside at extraction, `meta.quarantine`, and by the
  staging rules of this build, `int_quarantined_records`, per source, column and reason). They carry
  counts and reasons only: never a quarantined value or record, so no personal data;
- every table, view and column gets its comment (Chinese, then English): dbt's persist_docs
  wrote them into the working database, and `CREATE TABLE … AS` does not carry them over.

dbt's docs site (`dbt docs generate --static`, one HTML file) is generated right after each
successful dbt build (`generate_docs`, called by warehouse/transform.py) and copied beside
the published database at the publish (`write_docs`), where the dashboard serves it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = "metrics"
# dbt marts copied into the published file as tables (see publish.py)
READER_TABLES = ("regions", "plan_measures", "publish_context")
READER_VIEWS = ("plan_metric_values_labeled",)
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
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _has(conn, schema: str, relation: str) -> bool:
    """A table or view of the working database (dbt's intermediate models are views)."""
    return bool(
        conn.execute(
            "select count(*) from (select schema_name, table_name as name, database_name from duckdb_tables() "
            "union all select schema_name, view_name, database_name from duckdb_views()) "
            "where database_name = current_database() and schema_name = ? and name = ?",
            [schema, relation],
        ).fetchone()[0]
    )


def write_quality_tables(conn, catalog: str) -> None:
    """Both quality tables, empty when the working database has no ledger or quarantine yet."""
    for statement in QUALITY_DDL.format(c=catalog).split(";"):
        if statement.strip():
            conn.execute(statement)
    if _has(conn, "meta", "quality_checks"):
        conn.execute(QUALITY_WARNINGS_SQL.format(c=catalog, runs=QUALITY_RUNS))
    if _has(conn, "meta", "quarantine"):
        conn.execute(QUARANTINE_SQL.format(c=catalog))
    if _has(conn, "intermediate", "int_quarantined_records"):
        conn.execute(STAGING_QUARANTINE_SQL.format(c=catalog))


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
    copy_views(conn, catalog)
    copy_comments(conn, catalog)


def _dbt_target(working_db: Path) -> Path:
    """The target folder of the dbt builds of this working database (warehouse/transform.py)."""
    return Path(working_db).parent.parent / "dbt" / "target"


def generate_docs(working_db: Path, target: Path) -> Path | None:
    """`dbt docs generate --static` right after a successful build (dbt is loaded there, so it
    costs ~1 s): the build's manifest plus the working database's catalog, as one HTML file
    in the build's target folder. A failure is logged, never raised: docs never block a build."""
    try:
        from dbt.cli.main import dbtRunner

        from warehouse import paths

        os.environ["PLAN_METRICS_WORKING_DB"] = str(working_db)
        project = paths.dbt_project_dir()
        res = dbtRunner().invoke(
            ["docs", "generate", "--static", "--no-compile", "--quiet"]
            + ["--project-dir", str(project), "--profiles-dir", str(project)]
            + ["--target-path", str(target), "--log-path", str(target.parent / "logs")]
        )
        if not res.success:
            raise RuntimeError(res.exception or "dbt docs generate failed")
        return target / "static_index.html"
    except Exception as exc:  # the docs page is a convenience: the build stands without it
        log.warning("dbt docs were not generated: %s", exc)
        return None


def write_docs(working_db: Path, published_dir: Path) -> Path | None:
    """Put the docs page of the build being published beside the published file (atomically).

    Only a page generated after the build's manifest is copied: a stale page (its generation
    failed) is left out with a warning, and the previous published page stays."""
    target = _dbt_target(working_db)
    page, manifest = target / "static_index.html", target / "manifest.json"
    if not page.exists() or not manifest.exists() or page.stat().st_mtime_ns < manifest.stat().st_mtime_ns:
        log.warning("no docs page of this build in %s: the published docs page was not replaced", target)
        return None
    out = Path(published_dir) / DOCS_NAME
    staged = out.with_name(f".{DOCS_NAME}.tmp")
    shutil.copyfile(page, staged)
    os.replace(staged, out)
    return out
