"""The meta schema's one home creates every table, and its quick "nothing to create" check
knows every table's last column (so adding a column without updating it cannot go unnoticed)."""

from __future__ import annotations

import duckdb

from warehouse import meta


def test_the_complete_check_names_each_meta_tables_last_column(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        meta.ensure(conn)
        last = dict(
            conn.execute(
                "select table_name, arg_max(column_name, column_index) from duckdb_columns() "
                "where schema_name = 'meta' group by all"
            ).fetchall()
        )
    assert dict(meta._COMPLETE) == last


def test_ensure_on_an_older_database_adds_the_missing_columns(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("create schema meta")
        conn.execute(
            "create table meta.quality_checks (run_id varchar, checked_at timestamptz, layer varchar, suite varchar, "
            "check_name varchar, table_name varchar, severity varchar, success boolean, observed varchar, sample varchar)"
        )
        meta.ensure(conn)
        cols = [
            r[0]
            for r in conn.execute(
                "select column_name from duckdb_columns() where table_name = 'quality_checks'"
            ).fetchall()
        ]
    assert cols[-1] == "observed_value"
