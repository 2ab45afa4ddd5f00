"""A digest of a published file's data, to tell whether two pipelines published the same bytes.

Every table of the published file (schema `metrics`) is read in full, every column with its
type, rows in a total order (`order by all`), each value by its exact `repr` (a double's repr
round-trips, a decimal keeps its scale); a table's digest is the sha256 of that text. Left
out, because they name the publish or the run rather than the data: the publish's id, time and
dbt invocation, when records were quarantined, and the quality ledger's own bookkeeping (how
many checks ran and which warned is a property of the pipeline's code: issue 14 runs one dbt
test per model where there was one per column).

    python -m tests.pipeline.published_digest <published.duckdb>   # prints the digest as JSON
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import duckdb

# table -> columns left out of its digest (they name the publish, not the data)
EVERY_TABLE = ("publish_id",)
PUBLISH_COLUMNS = {
    "publish_log": ("published_at", "checks_passed", "checks_failed", "dbt_invocation_id"),
    "quarantine_summary": ("first_quarantined_at", "last_quarantined_at"),
}
NOT_DATA = ("quality_warnings",)  # the checks that warned: names of the pipeline's own checks


def table_digests(published_db: Path) -> dict[str, str]:
    con = duckdb.connect(str(published_db), read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'metrics' order by table_name"
            ).fetchall()
            if name not in NOT_DATA
        ]
        return {table: _digest(con, table, PUBLISH_COLUMNS.get(table, ())) for table in tables}
    finally:
        con.close()


def _digest(con: duckdb.DuckDBPyConnection, table: str, left_out: tuple[str, ...]) -> str:
    columns = [
        (name, dtype)
        for name, dtype in con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'metrics' and table_name = ? order by column_index",
            [table],
        ).fetchall()
        if name not in left_out and name not in EVERY_TABLE
    ]
    names = ", ".join(f'"{name}"' for name, _ in columns)
    digest = hashlib.sha256(repr(columns).encode())
    for row in con.execute(f"select {names} from metrics.{table} order by all").fetchall():
        digest.update(b"\n" + repr(row).encode())
    return digest.hexdigest()


if __name__ == "__main__":
    print(json.dumps(table_digests(Path(sys.argv[1])), indent=2, sort_keys=True))
