"""Expectation suites for the raw layer, and the DuckDB aggregates they validate.

The raw tables grow with the sources, so nothing here fetches raw rows: DuckDB computes one
small row per table, source or extract run, and Great Expectations validates those rows.
What blocks and what only warns follows metrics.md ("What blocks a publish"):

- freshness of each source, judged against the run's data interval end (never the wall
  clock, so a backfill of 2020 still publishes) — warns;
- volume of the latest extract run within a band around the previous runs — warns;
- required fields present in the latest version of every record — warns (extraction
  quarantines such records, so one here is a single bad record, which never blocks);
- one row per (key, content hash) version in each API raw table — blocks: the loader
  guarantees it, and a duplicate version would be counted twice downstream.

Raw tables and each source's freshness limit come from the source registry
(`extract.sources.SOURCES`); tables that do not exist yet (a source never loaded) are
skipped.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.checks import Batch
from extract.sources import SOURCES, Endpoint, FileTable, all_endpoints, all_file_tables
from warehouse.run_context import RunContext

WARN = "warning"
# The latest run's records received must lie within [median / F, median * F] of the
# previous runs' (at most VOLUME_HISTORY of them, at least VOLUME_MIN_HISTORY to judge).
VOLUME_FACTOR = 5.0
VOLUME_HISTORY = 10
VOLUME_MIN_HISTORY = 3


def raw_tables(conn: duckdb.DuckDBPyConnection) -> list[Endpoint | FileTable]:
    """The contracts' raw tables that exist in the working database."""
    existing = {
        f"{s}.{t}"
        for s, t in conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    return [spec for spec in [*all_endpoints(), *all_file_tables()] if spec.raw_table in existing]


def batches(conn: duckdb.DuckDBPyConnection, ctx: RunContext) -> list[Batch]:
    return [
        Batch(
            "raw_freshness",
            "raw (newest record per source)",
            freshness_frame(conn, ctx.as_of),
            freshness(),
            ["source", "newest_record", "interval_end", "age_hours"],
            "select source, endpoint, max(watermark_after), max(loaded_at) from meta.extract_runs "
            "where source = '{source}' group by all",
        ),
        Batch(
            "raw_volume",
            "meta.extract_runs",
            volume_frame(conn),
            volume(),
            ["source", "endpoint", "manifest_id", "latest_records", "median_before"],
            "select manifest_id, interval_start, interval_end, records_received, loaded_at from meta.extract_runs "
            "where source = '{source}' and endpoint = '{endpoint}' order by loaded_at desc limit 12",
        ),
        Batch(
            "raw_keys",
            "raw (key + content hash per table)",
            key_frame(conn),
            keys(),
            ["table_name", "examples"],
            "select * from {table_name} -- versions listed in examples appear twice",
        ),
        Batch(
            "raw_required",
            "raw (latest version per key)",
            required_frame(conn),
            required_fields(),
            ["table_name", "field"],
            "select * from {table_name} where {field} is null",
        ),
    ]


# --- freshness ------------------------------------------------------------------------
def freshness_frame(conn: duckdb.DuckDBPyConnection, as_of: datetime):
    """One row per source with a raw table: its newest record and its age at `as_of`."""
    parts = []
    for spec in raw_tables(conn):
        # API records carry the source's updated_at; spreadsheet rows their file's mtime
        newest = "max(try_cast(updated_at as timestamptz))" if isinstance(spec, Endpoint) else "max(_file_mtime)"
        parts.append(f"select '{spec.source}' as source, {newest} as newest from {spec.raw_table}")
    if not parts:
        parts = ["select null::varchar as source, null::timestamptz as newest where false"]
    limits = ", ".join(f"('{s.name}', {float(s.freshness_hours)})" for s in SOURCES.values())
    return conn.execute(
        f"""
        with per_table as ({" union all ".join(parts)})
        select source, max(newest)::varchar as newest_record, ?::timestamptz::varchar as interval_end,
               round(epoch(?::timestamptz - max(newest)) / 3600, 1) as age_hours,
               any_value(l.max_age_hours) as max_age_hours
        from per_table join (values {limits}) l(src, max_age_hours) on l.src = per_table.source
        group by source order by source
        """,
        [as_of, as_of],
    ).df()


def freshness() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="raw__freshness")
    # a source with no record at all has a null age: that is a volume question, not staleness
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="max_age_hours",
            column_B="age_hours",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            severity=WARN,
        )
    )
    return suite


# --- volume ---------------------------------------------------------------------------
def volume_frame(conn: duckdb.DuckDBPyConnection):
    """One row per endpoint with enough history: the latest run's records vs the median before."""
    return conn.execute(
        f"""
        with ranked as (
            select source, endpoint, manifest_id, records_received,
                   row_number() over (partition by source, endpoint order by loaded_at desc, manifest_id desc) as rn
            from meta.extract_runs
        ),
        history as (
            select source, endpoint, median(records_received) as median_before, count(*) as runs_before
            from ranked where rn between 2 and {VOLUME_HISTORY + 1} group by all
        )
        select l.source, l.endpoint, l.manifest_id, l.records_received as latest_records,
               h.median_before::double as median_before,
               round(l.records_received / nullif(h.median_before, 0), 3) as volume_ratio
        from ranked l join history h using (source, endpoint)
        where l.rn = 1 and h.runs_before >= {VOLUME_MIN_HISTORY}
        order by all
        """
    ).df()


def volume() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="raw__volume")
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="volume_ratio", min_value=1 / VOLUME_FACTOR, max_value=VOLUME_FACTOR, severity=WARN
        )
    )
    return suite


# --- keys and required fields ---------------------------------------------------------
def key_frame(conn: duckdb.DuckDBPyConnection):
    """One row per API raw table: versions stored twice (same key and content hash)."""
    parts = []
    for spec in raw_tables(conn):
        if not isinstance(spec, Endpoint):
            continue  # spreadsheet rows are versioned by file; staging picks the newest file
        key = ", ".join(spec.key)
        parts.append(
            f"""select '{spec.raw_table}' as table_name,
                   (select count(*) from {spec.raw_table}) as versions,
                   count(*) as duplicated_versions,
                   list(concat_ws('/', {key})::varchar order by {key})[1:5]::varchar as examples
               from (select {key} from {spec.raw_table} group by {key}, _record_hash having count(*) > 1)"""
        )
    if not parts:
        return conn.execute(
            "select null::varchar as table_name, 0::bigint as versions, 0::bigint as duplicated_versions, "
            "null::varchar as examples where false"
        ).df()
    return conn.execute(" union all ".join(parts) + " order by table_name").df()


def keys() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="raw__keys")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="duplicated_versions", min_value=0, max_value=0))
    return suite


def required_frame(conn: duckdb.DuckDBPyConnection):
    """One row per (raw table, required field): how many latest versions lack it."""
    parts = []
    for spec in raw_tables(conn):
        key = ", ".join(spec.key)
        if isinstance(spec, Endpoint):
            required = spec.required
            order = "_landed_at desc, _seq desc"  # dbt_project/macros/latest_version.sql
        else:
            required = spec.key
            order = "_file_mtime desc, _file_path desc"
        counts = ", ".join(f"count(*) filter (where {c} is null) as {c}" for c in required)
        unpivot = ", ".join(required)
        parts.append(
            f"""select '{spec.raw_table}' as table_name, field, missing::bigint as missing
               from (unpivot (select {counts} from (
                        select * from {spec.raw_table}
                        qualify row_number() over (partition by {key} order by {order}) = 1))
                     on {unpivot} into name field value missing)"""
        )
    if not parts:
        return conn.execute(
            "select null::varchar as table_name, null::varchar as field, 0::bigint as missing where false"
        ).df()
    return conn.execute(" union all ".join(parts) + " order by all").df()


def required_fields() -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name="raw__required_fields")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="missing", min_value=0, max_value=0, severity=WARN))
    return suite
