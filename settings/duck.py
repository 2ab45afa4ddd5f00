"""Every DuckDB connection the pipeline opens: bounded memory, and a place to spill under the data folder.

DuckDB takes up to 80 % of the machine's memory by default — fine alone on a laptop, not on
a worker it shares with other tasks. Each connection the pipeline opens (and dbt's, through
`profiles.yml`, which reads the var `warehouse.transform` passes) is held to the settings'
`duckdb_memory_limit` (PLAN_METRICS_DUCKDB_MEMORY_LIMIT, any DuckDB size, default 4GB) and spills
what does not fit to `$PLAN_METRICS_DATA_DIR/tmp/duckdb` (dbt's to DuckDB's default,
`<working database>.tmp`, beside the file: see profiles.yml). The limit is set with `SET` after
opening rather than as an open-time config, because DuckDB refuses a second handle on a
file with a different open-time config in one process (`airflow dags test` runs dbt, the
gate and the publish in one).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from settings import Settings


def bounds(settings: Settings) -> dict[str, str]:
    """What every connection gets (dbt's memory limit too: `warehouse.transform` passes it)."""
    temp = settings.duckdb_temp_dir
    temp.mkdir(parents=True, exist_ok=True)
    return {"memory_limit": settings.duckdb_memory_limit, "temp_directory": str(temp)}


def connect(path: Path | str, settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """duckdb.connect with the pipeline's memory limit and spill folder.

    A second connection to a file already open in this process shares its database instance,
    and DuckDB refuses to set the spill folder again (even to the same value) once that
    instance has spilled: the folder is set only when it differs, and an instance that already
    spilled elsewhere (dbt's, beside its file) keeps its own."""
    conn = duckdb.connect(str(path), read_only=read_only)
    given = bounds(settings)
    conn.execute(f"set memory_limit = '{given['memory_limit']}'")
    if conn.execute("select current_setting('temp_directory')").fetchone()[0] != given["temp_directory"]:
        try:
            conn.execute(f"set temp_directory = '{given['temp_directory']}'")
        except duckdb.NotImplementedException:  # "cannot switch ... after the current one has been used"
            pass
    return conn


def relation_exists(conn, schema: str, name: str, database: str | None = None) -> bool:
    """Whether a table or view `schema.name` exists in `database` (default: the connection's own).

    The one place that asks: a view counts as well as a table (dbt's intermediate models are
    views), and the database is named because a connection may have others attached."""
    return bool(
        conn.execute(
            "select count(*) from (select database_name, schema_name, table_name as name from duckdb_tables() "
            "union all select database_name, schema_name, view_name from duckdb_views()) "
            "where database_name = coalesce(?, current_database()) and schema_name = ? and name = ?",
            [database, schema, name],
        ).fetchone()[0]
    )
