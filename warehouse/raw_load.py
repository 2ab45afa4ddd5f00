"""Loads landed runs into the raw layer, exactly once, with their bookkeeping.

Every pending run of an endpoint (or of a drop folder) is read by DuckDB's own JSON reader
and inserted in one transaction together with what `record_run()` writes about it
(`meta.loaded_manifests`, `meta.extract_runs`, `meta.quarantine`, `meta.received_files`)
and, for HTTP endpoints, the advanced watermark. An HTTP record is checked and hashed here,
part file by part file, in DuckDB (`warehouse/raw_records.py`): one that fails a check goes
to `meta.quarantine`; a version already in the raw table (same key and same content hash)
is never inserted twice, so re-loading, overlapping extracts and a crash at any point all
end in the same table. Before its first insert into a database the loader moves rows an
older loader hashed onto the current hash (`raw_records.rehash_raw`, once).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from extract import reasons
from extract.landing import FILES_ENDPOINT, QUARANTINE, LandedRun, SetAside, failpoint, pending_runs
from extract.sources import FILE_LINEAGE, SOURCES, Endpoint, FileTable, raw_columns
from settings import Settings, duck
from warehouse import meta, raw_records

log = logging.getLogger(__name__)

_LOADER_COLUMNS = "_manifest_id varchar, _landed_at timestamptz, _loaded_at timestamptz"


def ensure_tables(conn: duckdb.DuckDBPyConnection, specs: list[Endpoint | FileTable]) -> None:
    """The meta schema and these raw tables, and the raw layer on the current content hash."""
    meta.ensure(conn)
    raw_records.rehash_raw(conn)
    for spec in specs:
        cols = ", ".join(f"{name} {typ}" for name, typ in raw_columns(spec).items())
        conn.execute(f"create table if not exists {spec.raw_table} ({cols}, {_LOADER_COLUMNS})")
        if isinstance(spec, FileTable):  # lineage columns added since a table was created
            for name, typ in FILE_LINEAGE.items():
                conn.execute(f"alter table {spec.raw_table} add column if not exists {name} {typ}")


def read_watermark(db_path: Path, ep: Endpoint, settings: Settings) -> str | None:
    """The committed watermark of an endpoint (None before its first load)."""
    if not Path(db_path).exists():
        return None
    with duck.connect(db_path, settings, read_only=True) as conn:
        if not duck.relation_exists(conn, "meta", "watermarks"):
            return None
        row = conn.execute(
            "select watermark from meta.watermarks where source = ? and endpoint = ?", [ep.source, ep.name]
        ).fetchone()
    return row[0] if row else None


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in columns.items()) + "}"


def _loaded_ids(conn: duckdb.DuckDBPyConnection, source: str, endpoint: str) -> set[str]:
    rows = conn.execute(
        "select manifest_id from meta.loaded_manifests where source = ? and endpoint = ?", [source, endpoint]
    ).fetchall()
    return {r[0] for r in rows}


# ------------------------------------------------------------------ bookkeeping --------
_QUARANTINE_COLUMNS = {
    "table": "varchar",
    "endpoint": "varchar",  # manifest version 1 (HTTP)
    "file": "varchar",
    "_file_path": "varchar",  # manifest version 1 (drop folders)
    "row_number": "bigint",
    "column": "varchar",
    "value": "varchar",
    "reason": "varchar",
    "record": "json",
}
_EXTRACT_RUN_COLUMNS = (
    "manifest_id, source, endpoint, interval_start, interval_end, pages, records_received, rows_landed, "
    "new_records, updated_records, duplicate_versions, quarantined, retries, bytes, extract_seconds, new_fields, "
    "watermark_before, watermark_after, clock_skewed, clock_skew_examples, present"
)
_RECEIVED_FILE_FIELDS = {
    "path": "varchar",
    "sha256": "varchar",
    "bytes": "bigint",
    "mtime": "varchar",
    "status": "varchar",
    "reason": "varchar",
    "rows": "bigint",
    "quarantined": "bigint",
    "sheet": "varchar",
    "file_id": "varchar",
    "received_seq": "bigint",
}
_RECEIVED_FILE_STRUCT = ", ".join(f'"{k}" {v}' for k, v in _RECEIVED_FILE_FIELDS.items())


def record_run(
    conn: duckdb.DuckDBPyConnection, run: LandedRun, counts: tuple[int, int, int] | None, quarantined: int = 0
) -> None:
    """Everything the working database keeps about one loaded run, inside the caller's
    transaction. counts: (new records, versions inserted, duplicate versions) of an HTTP run;
    quarantined: its records the load set aside (those set aside at extraction are in its
    quarantine file, copied here)."""
    m = run.manifest
    if m.quarantined:
        conn.execute(
            f"""
            insert into meta.quarantine
                (manifest_id, source, endpoint, file, row_number, column_name, value, reason, record,
                 quarantined_at, reason_key)
            select ?, ?, coalesce("table", endpoint, '_file'), coalesce(file, _file_path), row_number, "column",
                   value, reason, record, now(), {reasons.key_sql("reason", '"column"')}
            from read_json(?, format = 'newline_delimited', columns = {_struct(_QUARANTINE_COLUMNS)})
            """,
            [m.manifest_id, m.source, str(run.path(QUARANTINE))],
        )
    if m.received:  # one statement for all of a run's files (thousands at scale)
        files = [{k: getattr(f, k) for k in _RECEIVED_FILE_FIELDS} for f in m.received]
        conn.execute(
            f"""
            insert into meta.received_files
            select ?, ?, f.path, f.sha256, f.bytes, nullif(f.mtime, '')::timestamptz, f.status, f.reason, f."rows",
                   f.quarantined, now(), f.sheet, f.file_id, f.received_seq
            from (select unnest(?::struct({_RECEIVED_FILE_STRUCT})[]) as f)
            """,
            [m.manifest_id, m.source, files],
        )
    new, inserted, duplicates = counts if counts is not None else (None, None, None)
    interval = m.interval or [None, None]
    received = m.records_received if m.records_received is not None else m.row_count + m.quarantined
    size = m.bytes if m.bytes is not None else (sum(f.bytes for f in m.received) or None)
    conn.execute(
        f"insert into meta.extract_runs ({_EXTRACT_RUN_COLUMNS}, loaded_at) values ({', '.join('?' * 21)}, now())",
        [
            m.manifest_id,
            m.source,
            m.endpoint,
            interval[0],
            interval[1],
            m.pages,
            received,
            m.row_count,
            new,
            None if inserted is None else inserted - new,
            duplicates,
            m.quarantined + quarantined,
            m.retries,
            size,
            m.duration_s,
            m.new_fields,
            m.watermark_before,
            m.watermark_after,
            m.clock_skewed,
            json.dumps(m.clock_skew_examples, ensure_ascii=False) if m.clock_skewed else None,
            m.present,
        ],
    )
    conn.execute(
        "insert into meta.loaded_manifests values (?, ?, ?, ?, ?, ?::timestamptz, now())",
        [m.manifest_id, m.source, m.endpoint, m.run_key, m.row_count, m.landed_at],
    )


SET_ASIDE = "landed run set aside"


def _record_set_aside(conn: duckdb.DuckDBPyConnection, source: str, endpoint: str, aside: list[SetAside]) -> None:
    """A broken landed run, moved to _corrupt/, in the quarantine (the gate reports it)."""
    for a in aside:
        log.error(
            "%s: %s: %s; moved to %s. The next extract asks the source again.", a.run_id, SET_ASIDE, a.reason, a.path
        )
        conn.execute(
            "insert into meta.quarantine (manifest_id, source, endpoint, file, reason, quarantined_at, reason_key) "
            "values (?, ?, ?, ?, ?, now(), ?)",
            [a.run_id, source, endpoint, str(a.path), f"{SET_ASIDE}: {a.reason}", reasons.key_of(SET_ASIDE)],
        )


def _in_transaction(conn: duckdb.DuckDBPyConnection, work) -> None:
    conn.execute("begin transaction")
    try:
        work()
        failpoint("before_commit")
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


# ------------------------------------------------------------------ HTTP endpoints -----
def load_endpoint(conn: duckdb.DuckDBPyConnection, ep: Endpoint, landing_root: Path) -> dict:
    """Load every landed-but-unloaded run of `ep`; returns what was loaded."""
    ensure_tables(conn, [ep])
    runs, aside = pending_runs(landing_root, ep.source, ep.name, _loaded_ids(conn, ep.source, ep.name))
    _record_set_aside(conn, ep.source, ep.name, aside)
    totals = {"manifests": len(runs), "inserted": 0, "quarantined": sum(r.manifest.quarantined for r in runs)}
    if not runs:
        log.info("%s: nothing new in the landing zone", ep.raw_table)
        return totals

    def work() -> None:
        counts = _insert_new_versions(conn, ep, runs)
        totals["inserted"] = sum(c.inserted for c in counts.values())
        totals["quarantined"] += sum(c.quarantined for c in counts.values())
        for run in runs:
            c = counts.get(run.id, _RunCounts())
            record_run(conn, run, (c.new, c.inserted, c.valid - c.inserted), c.quarantined)
        _advance_watermark(conn, ep, runs)

    _in_transaction(conn, work)
    log.info(
        "%s: loaded %d runs, %d new versions, %d quarantined",
        ep.raw_table,
        totals["manifests"],
        totals["inserted"],
        totals["quarantined"],
    )
    if totals["quarantined"]:
        log.warning("%s: %d records quarantined (see meta.quarantine)", ep.raw_table, totals["quarantined"])
    return totals


@dataclass
class _RunCounts:
    """One HTTP run's rows: valid, of which inserted (new versions) and of new records; and
    its distinct records quarantined by the load."""

    valid: int = 0
    inserted: int = 0
    new: int = 0
    quarantined: int = 0


def _part_sql(ep: Endpoint) -> str:
    """One landed part, checked, typed and hashed, reduced to what the load writes: the
    versions the raw table does not hold yet (the first of each key + hash in the part, with
    `_is_new` when the key itself is new), and every row that failed a check (`_problem`,
    `_record`). Inside `checked` and `typed`, a field's name is still its JSON column."""
    key = ", ".join(ep.key)
    known = " and ".join(f"r.{k} = f.{k}" for k in ep.key)
    return f"""
        create or replace temp table _fresh as
        with landed as (
            select * from read_json(?, format = 'newline_delimited',
                                    columns = {_struct(raw_records.json_columns(ep))})
        ),
        checked as (select *, {raw_records.failed_check_sql(ep)} as _fail from landed),
        typed as (
            select {", ".join(raw_records.typed_sql(ep))}, _extra, _seq, {raw_records.problem_sql(ep)} as _problem,
                   case when _fail is not null then {raw_records.record_json_sql(ep)} end as _record
            from checked
        ),
        hashed as materialized (  -- read once, for the versions and the bad rows
            select *, case when _problem is null then {raw_records.record_hash_sql(ep)} end as _record_hash
            from typed
        ),
        firsts as (  -- _seq numbers a run's records: the first of each version (cheaper than a window)
            select * from hashed where _problem is null and _seq in (
                select min(_seq) from hashed where _problem is null group by {key}, _record_hash)
        )
        select f.*, not exists (select 1 from {ep.raw_table} as r where {known}) as _is_new
        from firsts as f anti join {ep.raw_table} as r using ({key}, _record_hash)
        union all by name
        select * from hashed where _problem is not null
    """


def _insert_new_versions(conn, ep: Endpoint, runs: list[LandedRun]) -> dict[str, _RunCounts]:
    """Check, hash and insert the versions of these runs the raw table does not hold yet (the
    first occurrence of each key + content hash, oldest run first); quarantine the records
    that fail a check, each distinct one once per run.

    Part file by part file, inside the caller's one transaction: memory holds one part
    (at most ROWS_PER_PART rows) whatever the size of the run or the backlog."""
    key, cols, sql = ", ".join(ep.key), raw_columns(ep), _part_sql(ep)
    out = {}
    for run in runs:
        c = out[run.id] = _RunCounts()
        for part in run.manifest.parts:
            conn.execute(sql, [str(run.path(part.name))])
            inserted, fresh_keys, bad = conn.execute(
                f"select count(*) filter (where _problem is null), "
                f"count(distinct ({key})) filter (where _is_new), count(*) filter (where _problem is not null) "
                "from _fresh"
            ).fetchone()
            conn.execute(
                f"insert into {ep.raw_table} by name select {', '.join(cols)}, ? as _manifest_id, "
                "?::timestamptz as _landed_at, now() as _loaded_at from _fresh where _problem is null",
                [run.id, run.manifest.landed_at],
            )
            if bad:
                c.quarantined += _quarantine(conn, ep, run.id)
            c.valid += part.rows - bad
            c.inserted += inserted
            c.new += fresh_keys
    conn.execute("drop table if exists _fresh")
    failpoint("raw_inserted")
    return out


def _quarantine(conn, ep: Endpoint, run_id: str) -> int:
    """The part's bad records into meta.quarantine: each distinct record once per run (a
    page read twice lands it twice), in the order received."""
    return conn.execute(
        f"""
        insert into meta.quarantine
            (manifest_id, source, endpoint, column_name, value, reason, record, quarantined_at, reason_key)
        select ?, ?, ?, _problem.column_name, _problem.value, _problem.reason, _record, now(),
               {reasons.key_sql("_problem.reason", "_problem.column_name")}
        from _fresh as f
        where _problem is not null
          and not exists (select 1 from meta.quarantine as q
                          where q.manifest_id = ? and q.record::varchar = f._record::varchar)
        qualify row_number() over (partition by _record::varchar order by _seq) = 1
        order by _seq
        """,
        [run_id, ep.source, ep.name, run_id],
    ).fetchone()[0]


def _advance_watermark(conn, ep: Endpoint, runs: list[LandedRun]) -> None:
    """Move the watermark forward (never back) to the newest trusted `updated_at` these runs
    saw — unless the stored one is in the future (a clock running ahead, stored before the
    extractor left such stamps out of watermarks): then it is repaired, moved back."""
    marks = [r.manifest for r in runs if r.manifest.watermark_after]
    if not marks:
        return
    best = max(marks, key=lambda m: _instant(m.watermark_after))
    current = conn.execute(
        "select watermark from meta.watermarks where source=? and endpoint=?", [ep.source, ep.name]
    ).fetchone()
    presents = [_instant(r.manifest.present) for r in runs if r.manifest.present]
    poisoned = current is not None and presents and _instant(current[0]) > max(presents) + timedelta(hours=1)
    if poisoned:
        log.warning(
            "%s: the stored watermark %s is in the future; repaired to %s",
            ep.raw_table,
            current[0],
            best.watermark_after,
        )
    elif current is not None and _instant(current[0]) >= _instant(best.watermark_after):
        return
    conn.execute(
        "insert or replace into meta.watermarks values (?, ?, ?, ?, now())",
        [ep.source, ep.name, best.watermark_after, best.manifest_id],
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rebuild_from_landing(conn: duckdb.DuckDBPyConnection, ep: Endpoint, landing_root: Path) -> dict:
    """Rebuild an endpoint's raw table from the landing zone alone (no source calls)."""
    ensure_tables(conn, [ep])
    conn.execute("begin transaction")
    conn.execute(f"delete from {ep.raw_table}")
    for table in ("loaded_manifests", "quarantine", "extract_runs", "watermarks"):
        conn.execute(f"delete from meta.{table} where source = ? and endpoint = ?", [ep.source, ep.name])
    conn.execute("commit")
    return load_endpoint(conn, ep, landing_root)


# ------------------------------------------------------------ drop folders (S4, S5) ----
def load_drop_source(conn: duckdb.DuckDBPyConnection, source: str, landing_root: Path) -> dict:
    """Load every landed-but-unloaded run of a drop-folder source, in one transaction."""
    tables = {t.name: t for t in SOURCES[source].tables}
    ensure_tables(conn, list(tables.values()))
    runs, aside = pending_runs(landing_root, source, FILES_ENDPOINT, _loaded_ids(conn, source, FILES_ENDPOINT))
    _record_set_aside(conn, source, FILES_ENDPOINT, aside)
    totals = {"manifests": len(runs), "inserted": 0, "quarantined": sum(r.manifest.quarantined for r in runs)}
    if not runs:
        log.info("%s: nothing new in the landing zone", source)
        return totals

    def work() -> None:
        for run in runs:
            for part in run.manifest.parts:
                t = tables[part.table]
                cols = raw_columns(t)
                conn.execute(
                    f"insert into {t.raw_table} by name select {', '.join(cols)}, ? as _manifest_id, "
                    "?::timestamptz as _landed_at, now() as _loaded_at "
                    f"from read_json(?, format = 'newline_delimited', columns = {_struct(cols)})",
                    [run.id, run.manifest.landed_at, str(run.path(part.name))],
                )
                totals["inserted"] += part.rows
            record_run(conn, run, None)

    _in_transaction(conn, work)
    log.info(
        "%s: loaded %d run(s), %d rows, %d quarantined",
        source,
        totals["manifests"],
        totals["inserted"],
        totals["quarantined"],
    )
    if totals["quarantined"]:
        log.warning("%s: %d quarantined rows/files this load (see meta.quarantine)", source, totals["quarantined"])
    return totals
