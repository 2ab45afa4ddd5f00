"""The `meta` schema of the working database: the pipeline's own bookkeeping, in one place.

Every table's DDL lives here and nowhere else; `ensure(conn)` creates what is missing (and
applies the column additions older databases need), so any step may run first.

- `loaded_manifests`: landed runs already loaded (a run is loaded exactly once).
- `watermarks`: per endpoint, the newest `updated_at` an incremental extract may start from.
- `extract_runs`: one row per loaded run — what was received, inserted, quarantined.
- `received_files`: drop-folder file versions seen, accepted or rejected with a reason, in
  the order received (`received_seq` within the run; `file_id` names the file without its
  name, which stays in restricted storage).
- `quarantine`: every record or file set aside, with column, value and reason, and the
  reason's key in `seeds/quarantine_reasons.csv` (`extract/reasons.py`: its Chinese text and
  what to change); for a drop-folder row, `record` holds what of it may be shown (sheet,
  centre, month, county) for the return list.
- `quality_checks`: the quality ledger — every check of every gate run.
- `publish_log`: one row per publish (its twin travels inside the published file).
- `run_context`: the one row dbt reads the publish id and the "as of" day from.
- `dbt_state`: the manifest of the last complete dbt build into this database, so the next
  build may skip what has not changed (warehouse/transform.py).
- `publish_inputs`: per publish, the fingerprint of what its build read
  (`warehouse/run_inputs.py`), so a run that would compute the same tables skips the
  build, the gate and the publish.
- `migrations`: one-time data migrations already applied (`migration_applied`,
  `record_migration`), e.g. the raw layer's move to the SQL content hash
  (`warehouse/raw_records.py`).
"""

from __future__ import annotations

import json

import duckdb

PUBLISH_LOG_COLUMNS = """
    publish_id varchar primary key, published_at timestamptz, source_watermarks json,
    row_counts json, checks_passed integer, checks_failed integer, dbt_invocation_id varchar"""

_DDL = (
    "create schema if not exists raw",
    "create schema if not exists meta",
    """create table if not exists meta.loaded_manifests (
        manifest_id varchar primary key, source varchar, endpoint varchar, run_key varchar,
        row_count bigint, landed_at timestamptz, loaded_at timestamptz)""",
    """create table if not exists meta.watermarks (
        source varchar, endpoint varchar, watermark varchar, manifest_id varchar, updated_at timestamptz,
        primary key (source, endpoint))""",
    """create table if not exists meta.quarantine (
        manifest_id varchar, source varchar, endpoint varchar, file varchar, row_number bigint,
        column_name varchar, value varchar, reason varchar, record json, quarantined_at timestamptz)""",
    """create table if not exists meta.extract_runs (
        manifest_id varchar primary key, source varchar, endpoint varchar, interval_start varchar,
        interval_end varchar, pages bigint, records_received bigint, rows_landed bigint,
        new_records bigint, updated_records bigint, duplicate_versions bigint, quarantined bigint,
        retries bigint, bytes bigint, extract_seconds double, new_fields varchar[],
        watermark_before varchar, watermark_after varchar, loaded_at timestamptz)""",
    """create table if not exists meta.received_files (
        manifest_id varchar, source varchar, file_path varchar, sha256 varchar, bytes bigint,
        file_mtime timestamptz, status varchar, reason varchar, rows_loaded bigint, rows_quarantined bigint,
        loaded_at timestamptz)""",
    """create table if not exists meta.quality_checks (
        run_id varchar, checked_at timestamptz, layer varchar, suite varchar, check_name varchar,
        table_name varchar, severity varchar, success boolean, observed varchar, sample varchar)""",
    # columns added since the first release (older working databases get them here)
    "alter table meta.quality_checks add column if not exists observed_value double",
    "alter table meta.extract_runs add column if not exists clock_skewed bigint",
    "alter table meta.extract_runs add column if not exists clock_skew_examples json",
    "alter table meta.extract_runs add column if not exists present varchar",
    "alter table meta.received_files add column if not exists sheet varchar",
    "alter table meta.received_files add column if not exists file_id varchar",
    "alter table meta.received_files add column if not exists received_seq bigint",
    "alter table meta.quarantine add column if not exists reason_key varchar",
    f"create table if not exists meta.publish_log ({PUBLISH_LOG_COLUMNS})",
    """create table if not exists meta.run_context as
        select cast('dev' as varchar) as publish_id, cast(null as date) as as_of_date""",
    "create table if not exists meta.dbt_state (manifest_sha256 varchar, built_at timestamptz)",
    """create table if not exists meta.migrations (
        name varchar primary key, applied_at timestamptz, detail json)""",
    """create table if not exists meta.publish_inputs (
        publish_id varchar primary key, inputs_sha256 varchar, recorded_at timestamptz)""",
)

QUALITY_COLUMNS = (
    "run_id, checked_at, layer, suite, check_name, table_name, severity, success, observed, sample, observed_value"
)


# the last column each table gained: when all are there, nothing needs creating
_COMPLETE = (
    ("quality_checks", "observed_value"),
    ("extract_runs", "present"),
    ("received_files", "received_seq"),
    ("loaded_manifests", "loaded_at"),
    ("watermarks", "updated_at"),
    ("quarantine", "reason_key"),
    ("publish_log", "dbt_invocation_id"),
    ("run_context", "as_of_date"),
    ("dbt_state", "built_at"),
    ("migrations", "detail"),
    ("publish_inputs", "recorded_at"),
)


def ensure(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and meta schemas and every meta table that is missing (one query when
    nothing is: loads call this for every endpoint)."""
    present = conn.execute(
        "select count(*) from duckdb_columns() where schema_name = 'meta' and (table_name, column_name) in "
        f"({', '.join(f'({t!r}, {c!r})' for t, c in _COMPLETE)})"
    ).fetchone()[0]
    has_raw = conn.execute("select count(*) from duckdb_schemas() where schema_name = 'raw'").fetchone()[0]
    if present == len(_COMPLETE) and has_raw:
        return
    for statement in _DDL:
        conn.execute(statement)
    # rows quarantined before reason keys existed get theirs (once: later rows are keyed on insert)
    conn.execute(f"update meta.quarantine set reason_key = {quarantine_key_sql()} where reason_key is null")


def quarantine_key_sql() -> str:
    """The reason key of a meta.quarantine row, from its reason and column (extract/reasons.py)."""
    from extract import reasons

    return reasons.key_sql("reason", "column_name")


def migration_applied(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the one-time migration `name` already ran on this database."""
    return conn.execute("select count(*) from meta.migrations where name = ?", [name]).fetchone()[0] > 0


def record_migration(conn: duckdb.DuckDBPyConnection, name: str, detail: dict) -> None:
    """Record that `name` ran (inside the migration's own transaction, so it counts only if
    the migration committed)."""
    conn.execute("insert into meta.migrations values (?, now(), ?)", [name, json.dumps(detail, ensure_ascii=False)])


def create_publish_log(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    """The publish log table in another schema (the published file's `metrics`)."""
    conn.execute(f"create table if not exists {schema}.publish_log ({PUBLISH_LOG_COLUMNS})")
