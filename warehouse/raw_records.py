"""What makes a landed HTTP record valid, and what makes it a new version — in DuckDB SQL.

The extractor lands records as they came (personal fields dropped, unknown fields in
`_extra`, `_seq`); the load reads every contract field as JSON and decides here, for a
whole part file at once, what per-record Python used to:

- **Checks**, in this order, the first that fails naming the record's problem: a required
  field missing, null or "" (`missing required field`, no value); a contract field holding
  NaN or ±Infinity (`non-finite number`: a source's `1e999` arrives as Infinity, never as
  NULL); a contract field of the wrong JSON type — a varchar must be a JSON string, a bigint a JSON integer that fits
  64 bits, so `true` is not a bigint and `5` is not a varchar (`expected <type>`, value:
  the JSON text, at most 200 characters); an `updated_at` that is not an ISO 8601 instant
  both Python (the watermark) and DuckDB (staging's cast) read (`unparseable timestamp`,
  value: the string). A record failing one goes to `meta.quarantine` as JSON, once per run.
- **The content hash** `_record_hash` of a valid record: sha256 of the JSON array of its
  typed contract fields in contract order, then `_extra` with its top-level keys sorted
  (`record_hash_sql`). Positions fix the fields and the types fix their encoding, so two
  versions hash alike exactly when their raw rows hold the same values, whatever order or
  escaping the source used. The loader keeps one row per (key, hash).

`rehash_raw()` is the one-time migration that moved raw rows loaded before this onto the
same hash (they carried a Python sha256 of their canonical JSON); `meta.migrations`
records that it ran.
"""

from __future__ import annotations

import logging

import duckdb

from extract import redact
from extract.landing import failpoint
from extract.sources import Endpoint, all_endpoints
from warehouse import meta

log = logging.getLogger(__name__)

REHASH_MIGRATION = "raw_record_hash_in_sql"
VALUE_CHARS = 200  # a quarantined value is cut to this many characters

# ISO 8601 instants both `extract.beijing_time.parse_ts` and DuckDB's timestamptz cast read (the
# regex keeps out what only DuckDB reads: hour 24, year 0, named zones, padding).
_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_HOUR = "([01][0-9]|2[0-3])"
TIMESTAMP_SHAPE = (
    f"{_YEAR}-[0-9]{{2}}-[0-9]{{2}}"
    f"([T ]{_HOUR}:[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?)?"
    f"(Z|[+-]{_HOUR}(:?[0-5][0-9](:[0-5][0-9])?)?)?"
)

# a JSON value's text (DuckDB writes it minified) is of the contract's type
_TYPE_OK = {
    "varchar": "starts_with({c}::varchar, '\"')",
    "bigint": "regexp_full_match({c}::varchar, '-?[0-9]+') and try_cast({c}::varchar as bigint) is not null",
}
# the typed value of a JSON value that passed its type check
_TYPED = {"varchar": "{c} ->> '$'", "bigint": "try_cast({c}::varchar as bigint)"}


def json_columns(ep: Endpoint) -> dict[str, str]:
    """read_json's columns for a landed part: every contract field as JSON, to be checked."""
    return {**dict.fromkeys(ep.fields, "json"), "_extra": "json", "_seq": "bigint"}


def _checks(ep: Endpoint) -> list[tuple[str, str, str, str]]:
    """(condition that fails, column, value shown, reason) over the JSON columns, in the
    order they are applied."""
    stamp = "(updated_at ->> '$')"
    return (
        [(f"{c} is null or {c}::varchar = '\"\"'", c, "null", "missing required field") for c in ep.required]
        + [
            (f"{c}::varchar in ('NaN', 'Infinity', '-Infinity')", c, f"({c} ->> '$')", "non-finite number")
            for c in ep.fields
        ]
        + [
            (f"{c} is not null and not ({_TYPE_OK[t].format(c=c)})", c, f"({c} ->> '$')", f"expected {t}")
            for c, t in ep.fields.items()
        ]
        + [
            (
                f"not regexp_full_match({stamp}, '{TIMESTAMP_SHAPE}') or try_cast({stamp} as timestamptz) is null",
                "updated_at",
                stamp,
                "unparseable timestamp",
            )
        ]
    )


def failed_check_sql(ep: Endpoint) -> str:
    """Over the JSON columns: the number (from 1) of the first check the record fails, or
    NULL for a valid record. A number, not the problem itself: a CASE of structs costs
    DuckDB three times as long to plan, on every part loaded."""
    return "case " + " ".join(f"when {cond} then {i}" for i, (cond, _, _, _) in enumerate(_checks(ep), 1)) + " end"


def problem_sql(ep: Endpoint) -> str:
    """Over the JSON columns and `_fail` (failed_check_sql): the problem as a struct
    (column_name, value, reason), for the rows that failed."""
    checks = _checks(ep)
    names = ", ".join(f"'{column}'" for _, column, _, _ in checks)
    reasons = ", ".join(f"'{reason}'" for _, _, _, reason in checks)
    values = ", ".join(value for _, _, value, _ in checks)
    return (
        f"case when _fail is not null then {{'column_name': [{names}][_fail], "
        f"'value': left({redact.shown_value_sql(f'[{values}][_fail]')}, {VALUE_CHARS}), "
        f"'reason': [{reasons}][_fail]}} end"
    )


def typed_sql(ep: Endpoint) -> list[str]:
    """Over the JSON columns: each contract field as its raw column type, named as the field."""
    return [f"{_TYPED[typ].format(c=c)} as {c}" for c, typ in ep.fields.items()]


def record_json_sql(ep: Endpoint) -> str:
    """Over the JSON columns: the record as received (personal fields already gone), for the
    quarantine — contract fields in contract order (absent ones as null), then `_extra`'s."""
    pairs = ", ".join(f"'{c}', {c}" for c in ep.fields)
    obj = f"json_object({pairs})"
    return (
        f"case when _extra is null or _extra::varchar = '{{}}' then {obj} "
        f"else (substr({obj}::varchar, 1, length({obj}::varchar) - 1) || ',' || substr(_extra::varchar, 2))::json end"
    )


def record_hash_sql(ep: Endpoint) -> str:
    """Over typed contract columns and `_extra` (a raw table's, or a part's once typed): the
    version's content hash."""
    extra = (
        "case when _extra is null then null else to_json(map_from_entries(list_sort(map_entries("
        "json_transform(_extra, '\"MAP(VARCHAR, JSON)\"'))))) end"
    )
    return f"sha256(json_array({', '.join(ep.fields)}, {extra}))"


def rehash_raw(conn: duckdb.DuckDBPyConnection) -> None:
    """The one-time migration (after `meta.ensure`): recompute `_record_hash` of every row of
    every HTTP raw table with `record_hash_sql`, and record it in `meta.migrations` — one
    transaction, so a crash leaves it to run again, and a database that has it skips it with
    one query. Each table is rewritten (create as select, then swapped in by name) rather
    than updated in place: that streams, where an UPDATE of every row holds them in memory.
    Versions the old hash told apart but this one does not (a field sent as null in one
    version and left out in another: the raw row cannot tell them apart either) are counted
    in the record and logged."""
    if meta.migration_applied(conn, REHASH_MIGRATION):
        return
    existing = {
        r[0]
        for r in conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables() where schema_name = 'raw'"
        ).fetchall()
    }
    conn.execute("begin transaction")
    try:
        detail = {}
        for ep in all_endpoints():
            if ep.raw_table not in existing:
                continue
            versions = f"select count(*), count(distinct ({', '.join(ep.key)}, _record_hash)) from {ep.raw_table}"
            rows, before = conn.execute(versions).fetchone()
            name = ep.raw_table.split(".", 1)[1]
            conn.execute(
                f"create table raw.{name}__rehashed as "
                f"select * replace ({record_hash_sql(ep)} as _record_hash) from {ep.raw_table}"
            )
            conn.execute(f"drop table {ep.raw_table}")
            conn.execute(f"alter table raw.{name}__rehashed rename to {name}")
            after = conn.execute(versions).fetchone()[1]
            detail[ep.raw_table] = {"rows": rows, "versions_before": before, "versions_after": after}
            if after != before:
                log.warning("%s: %d versions now share a content hash with another", ep.raw_table, before - after)
        meta.record_migration(conn, REHASH_MIGRATION, detail)
        failpoint("rehash_before_commit")
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    if detail:
        log.info("rehashed the raw layer with the SQL content hash: %s", detail)
