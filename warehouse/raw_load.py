"""Loads landed runs into the raw layer, exactly once, and advances the watermark with them.

Every pending run of an endpoint is read by DuckDB's own JSON reader and inserted in one
transaction together with the bookkeeping (`meta.loaded_manifests`, `meta.watermarks`,
`meta.quarantine`, `meta.extract_runs`). A version already in the raw table (same key and
same content hash) is never inserted twice, so re-loading, overlapping extracts and a
crash at any point all end in the same table.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from pathlib import Path

import duckdb

from extract.drops import FILES_ENDPOINT
from extract.landing import failpoint, list_manifests, verify
from extract.sources import FILE_LINEAGE, FILE_TABLES, Endpoint, FileTable

log = logging.getLogger(__name__)


META_DDL = """
create schema if not exists raw;
create schema if not exists meta;
create table if not exists meta.loaded_manifests (
    manifest_id varchar primary key, source varchar, endpoint varchar, run_key varchar,
    row_count bigint, landed_at timestamptz, loaded_at timestamptz);
create table if not exists meta.watermarks (
    source varchar, endpoint varchar, watermark varchar, manifest_id varchar, updated_at timestamptz,
    primary key (source, endpoint));
create table if not exists meta.quarantine (
    manifest_id varchar, source varchar, endpoint varchar, file varchar, row_number bigint,
    column_name varchar, value varchar, reason varchar, record json, quarantined_at timestamptz);
create table if not exists meta.extract_runs (
    manifest_id varchar primary key, source varchar, endpoint varchar, interval_start varchar,
    interval_end varchar, pages bigint, records_received bigint, rows_landed bigint,
    new_records bigint, updated_records bigint, duplicate_versions bigint, quarantined bigint,
    retries bigint, bytes bigint, extract_seconds double, new_fields varchar[],
    watermark_before varchar, watermark_after varchar, loaded_at timestamptz);
"""

_BOOK_COLUMNS = {"_extra": "json", "_record_hash": "varchar", "_seq": "bigint"}


def _raw_columns(ep: Endpoint) -> dict[str, str]:
    return {**ep.fields, **_BOOK_COLUMNS}


def ensure_tables(conn: duckdb.DuckDBPyConnection, ep: Endpoint) -> None:
    for stmt in filter(str.strip, META_DDL.split(";")):
        conn.execute(stmt)
    cols = ", ".join(f"{name} {typ}" for name, typ in _raw_columns(ep).items())
    conn.execute(
        f"create table if not exists {ep.raw_table} ({cols}, _manifest_id varchar, "
        "_landed_at timestamptz, _loaded_at timestamptz)"
    )


def read_watermark(db_path: Path, ep: Endpoint) -> str | None:
    """The committed watermark of an endpoint (None before its first load)."""
    if not Path(db_path).exists():
        return None
    with duckdb.connect(str(db_path), read_only=True) as conn:
        exists = conn.execute(
            "select count(*) from information_schema.tables where table_schema='meta' and table_name='watermarks'"
        ).fetchone()[0]
        if not exists:
            return None
        row = conn.execute(
            "select watermark from meta.watermarks where source = ? and endpoint = ?", [ep.source, ep.name]
        ).fetchone()
    return row[0] if row else None


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in columns.items()) + "}"


def load_endpoint(conn: duckdb.DuckDBPyConnection, ep: Endpoint, landing_root: Path) -> dict:
    """Load every landed-but-unloaded run of `ep`; returns what was loaded."""
    ensure_tables(conn, ep)
    loaded = {
        r[0]
        for r in conn.execute(
            "select manifest_id from meta.loaded_manifests where source=? and endpoint=?", [ep.source, ep.name]
        ).fetchall()
    }
    pending = [m for m in list_manifests(landing_root, ep.source, ep.name) if m["manifest_id"] not in loaded]
    if not pending:
        log.info("%s: nothing new in the landing zone", ep.raw_table)
        return {"manifests": 0, "inserted": 0, "quarantined": 0}
    run_dirs = {m["manifest_id"]: Path(landing_root) / ep.source / ep.name / m["run_key"] for m in pending}
    for m in pending:
        verify(run_dirs[m["manifest_id"]], m)
    files = [(str(run_dirs[m["manifest_id"]] / f["name"]), m) for m in pending for f in m["files"]]
    key = ", ".join(ep.key)
    cols = _raw_columns(ep)
    col_list = ", ".join(cols)
    totals = {"manifests": len(pending), "inserted": 0, "quarantined": 0}
    conn.execute("begin transaction")
    try:
        if files:
            file_map = ", ".join(
                f"({_sql_str(p)}, {_sql_str(m['manifest_id'])}, {_sql_str(m['landed_at'])}::timestamptz)"
                for p, m in files
            )
            conn.execute(
                f"""
                create or replace temp table _batch as
                select src.* exclude (filename), fm.manifest_id as _manifest_id, fm.landed_at as _landed_at
                from read_json([{", ".join(_sql_str(p) for p, _ in files)}],
                               format = 'newline_delimited', columns = {_struct(cols)}, filename = true) src
                join (values {file_map}) fm(filename, manifest_id, landed_at) on src.filename = fm.filename
                """
            )
            # The versions to insert: first occurrence of each (key, content) in the batch that
            # the raw table does not hold yet; `is_new` marks records never seen before.
            conn.execute(
                f"""
                create or replace temp table _fresh as
                with firsts as (
                    select * from _batch
                    qualify row_number() over (partition by {key}, _record_hash order by _landed_at, _seq) = 1
                ),
                known_keys as (select distinct {key} from {ep.raw_table})
                select f.*, k.{ep.key[0]} is null as _is_new
                from firsts f
                anti join {ep.raw_table} r using ({key}, _record_hash)
                left join known_keys k using ({key})
                """
            )
            stats = conn.execute(
                f"""
                with received as (select _manifest_id, count(*) as n from _batch group by 1),
                     fresh as (
                         select _manifest_id, count(*) as inserted,
                                count(distinct ({key})) filter (where _is_new) as new_records
                         from _fresh group by 1)
                select rc._manifest_id, coalesce(fr.new_records, 0), coalesce(fr.inserted, 0),
                       rc.n - coalesce(fr.inserted, 0)
                from received rc left join fresh fr using (_manifest_id)
                """
            ).fetchall()
            per_manifest = {mid: (new, ins, dup) for mid, new, ins, dup in stats}
            conn.execute(
                f"insert into {ep.raw_table} by name "
                f"select {col_list}, _manifest_id, _landed_at, now() as _loaded_at from _fresh"
            )
            totals["inserted"] = sum(v[1] for v in per_manifest.values())
            failpoint("raw_inserted")
        else:
            per_manifest = {}
        for m in pending:
            mid = m["manifest_id"]
            if m.get("quarantine_file"):
                qpath = run_dirs[mid] / m["quarantine_file"]
                conn.execute(
                    """
                    insert into meta.quarantine
                    select ?, source, endpoint, ?, null, "column", value, reason, record, now()
                    from read_json(?, format = 'newline_delimited',
                                   columns = {'source': 'varchar', 'endpoint': 'varchar', 'column': 'varchar',
                                              'value': 'varchar', 'reason': 'varchar', 'record': 'json'})
                    """,
                    [mid, str(qpath), str(qpath)],
                )
                totals["quarantined"] += m["quarantined"]
            new, ins, dup = per_manifest.get(mid, (0, 0, 0))
            interval = m.get("interval") or [None, None]
            conn.execute(
                "insert into meta.extract_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [
                    mid,
                    ep.source,
                    ep.name,
                    interval[0],
                    interval[1],
                    m.get("pages"),
                    m.get("records_received"),
                    m["row_count"],
                    new,
                    ins - new,
                    dup,
                    m["quarantined"],
                    m.get("retries"),
                    m.get("bytes"),
                    m.get("duration_s"),
                    m.get("new_fields") or [],
                    m.get("watermark_before"),
                    m.get("watermark_after"),
                ],
            )
            conn.execute(
                "insert into meta.loaded_manifests values (?, ?, ?, ?, ?, ?::timestamptz, now())",
                [mid, ep.source, ep.name, m["run_key"], m["row_count"], m["landed_at"]],
            )
        _advance_watermark(conn, ep, pending)
        failpoint("before_commit")
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    log.info(
        "%s: loaded %d runs, %d new versions, %d quarantined",
        ep.raw_table,
        totals["manifests"],
        totals["inserted"],
        totals["quarantined"],
    )
    return totals


def _advance_watermark(conn, ep: Endpoint, pending: list[dict]) -> None:
    """Move the watermark forward (never back) to the newest `updated_at` these runs saw."""
    marks = [m["watermark_after"] for m in pending if m.get("watermark_after")]
    if not marks:
        return
    best = max(marks, key=_instant)
    current = conn.execute(
        "select watermark from meta.watermarks where source=? and endpoint=?", [ep.source, ep.name]
    ).fetchone()
    if current is not None and _instant(current[0]) >= _instant(best):
        return
    owner = next(m["manifest_id"] for m in pending if m.get("watermark_after") == best)
    conn.execute("insert or replace into meta.watermarks values (?, ?, ?, ?, now())", [ep.source, ep.name, best, owner])


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rebuild_from_landing(conn: duckdb.DuckDBPyConnection, ep: Endpoint, landing_root: Path) -> dict:
    """Rebuild an endpoint's raw table from the landing zone alone (no source calls)."""
    ensure_tables(conn, ep)
    conn.execute("begin transaction")
    conn.execute(f"delete from {ep.raw_table}")
    for table in ("loaded_manifests", "quarantine", "extract_runs", "watermarks"):
        conn.execute(f"delete from meta.{table} where source = ? and endpoint = ?", [ep.source, ep.name])
    conn.execute("commit")
    return load_endpoint(conn, ep, landing_root)


# ------------------------------------------------------------ drop folders (S4, S5) ----

RECEIVED_FILES_DDL = """
create table if not exists meta.received_files (
    manifest_id varchar, source varchar, file_path varchar, sha256 varchar, bytes bigint,
    file_mtime timestamptz, status varchar, reason varchar, rows_loaded bigint, rows_quarantined bigint,
    loaded_at timestamptz)
"""


_RECEIVED_FILE_FIELDS = {
    "path": "varchar",
    "sha256": "varchar",
    "bytes": "bigint",
    "mtime": "varchar",
    "status": "varchar",
    "reason": "varchar",
    "rows": "bigint",
    "quarantined": "bigint",
}
_RECEIVED_FILE_STRUCT = ", ".join(f'"{k}" {t}' for k, t in _RECEIVED_FILE_FIELDS.items())


def ensure_file_tables(conn: duckdb.DuckDBPyConnection, source: str) -> list[FileTable]:
    for stmt in filter(str.strip, META_DDL.split(";")):
        conn.execute(stmt)
    conn.execute(RECEIVED_FILES_DDL)
    tables = [t for t in FILE_TABLES if t.source == source]
    for t in tables:
        cols = ", ".join(f"{n} {typ}" for n, typ in {**t.fields, **FILE_LINEAGE}.items())
        conn.execute(
            f"create table if not exists {t.raw_table} ({cols}, _manifest_id varchar, "
            "_landed_at timestamptz, _loaded_at timestamptz)"
        )
    return tables


def _registry_centres(conn) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'scipop_platform__rural_centres'"
        ).fetchone()[0]
    ) and bool(conn.execute("select count(*) from raw.scipop_platform__rural_centres").fetchone()[0])


def load_drop_source(conn: duckdb.DuckDBPyConnection, source: str, landing_root: Path) -> dict:
    """Load every landed-but-unloaded run of a drop-folder source, in one transaction."""
    tables = {t.name: t for t in ensure_file_tables(conn, source)}
    loaded = {
        r[0]
        for r in conn.execute(
            "select manifest_id from meta.loaded_manifests where source = ? and endpoint = ?", [source, FILES_ENDPOINT]
        ).fetchall()
    }
    base = Path(landing_root) / source / FILES_ENDPOINT
    manifests = []
    if base.exists():
        for run in base.iterdir():
            if not run.name.startswith(".") and (run / "_manifest.json").exists():
                m = json.loads((run / "_manifest.json").read_text(encoding="utf-8"))
                if m["manifest_id"] not in loaded:
                    manifests.append((run, m))
    manifests.sort(key=lambda rm: (rm[1]["landed_at"], rm[1]["run_key"]))
    totals = {"manifests": len(manifests), "inserted": 0, "quarantined": 0}
    if not manifests:
        log.info("%s: nothing new in the landing zone", source)
        return totals
    check_centres = source == "rural_centre_reports" and _registry_centres(conn)
    if source == "rural_centre_reports" and not check_centres:
        log.warning("%s: the S1 centre registry is not loaded yet; centre ids are not checked", source)
    conn.execute("begin transaction")
    try:
        for run, m in manifests:
            mid = m["manifest_id"]
            for name, info in m["tables"].items():
                path = run / info["file"]
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != info["sha256"]:
                    raise ValueError(f"{path}: checksum mismatch; the landing zone was modified")
                t = tables[name]
                cols = {**t.fields, **FILE_LINEAGE}
                conn.execute(
                    f"create or replace temp table _drop_batch as select * from read_json(?, "
                    f"format = 'newline_delimited', columns = {_struct(cols)})",
                    [str(path)],
                )
                if name == "reports" and check_centres:
                    conn.execute(
                        """
                        insert into meta.quarantine
                        select ?, ?, 'reports', _file_path, _row_number, '科技馆编号', centre_id,
                               'unknown centre (not in the S1 rural-centre registry)',
                               to_json(b), now()
                        from _drop_batch b
                        where centre_id not in (select centre_id from raw.scipop_platform__rural_centres)
                        """,
                        [mid, source],
                    )
                    unknown = conn.execute(
                        "select count(*) from _drop_batch where centre_id not in "
                        "(select centre_id from raw.scipop_platform__rural_centres)"
                    ).fetchone()[0]
                    totals["quarantined"] += unknown
                    conn.execute(
                        "delete from _drop_batch where centre_id not in "
                        "(select centre_id from raw.scipop_platform__rural_centres)"
                    )
                n = conn.execute("select count(*) from _drop_batch").fetchone()[0]
                conn.execute(
                    f"insert into {t.raw_table} by name select {', '.join(cols)}, ? as _manifest_id, "
                    "?::timestamptz as _landed_at, now() as _loaded_at from _drop_batch",
                    [mid, m["landed_at"]],
                )
                totals["inserted"] += n
            if m.get("quarantine_file"):
                qpath = run / m["quarantine_file"]
                conn.execute(
                    """
                    insert into meta.quarantine
                    select ?, ?, coalesce("table", '_file'), _file_path, row_number, "column", value, reason, null, now()
                    from read_json(?, format = 'newline_delimited',
                                   columns = {'table': 'varchar', '_file_path': 'varchar', 'row_number': 'bigint',
                                              'column': 'varchar', 'value': 'varchar', 'reason': 'varchar'})
                    """,
                    [mid, source, str(qpath)],
                )
                totals["quarantined"] += m["quarantined"]
            # one statement for all of a run's files (thousands at scale; a row-by-row insert
            # costs ~1 ms each)
            files = [{k: f.get(k) for k in _RECEIVED_FILE_FIELDS} for f in m["files"]]
            conn.execute(
                f"""
                insert into meta.received_files
                select ?, ?, f.path, f.sha256, f.bytes, f.mtime::timestamptz, f.status, f.reason,
                       f."rows", f.quarantined, now()
                from (select unnest(?::struct({_RECEIVED_FILE_STRUCT})[]) as f)
                """,
                [mid, source, files],
            )
            interval = m.get("interval") or [None, None]
            conn.execute(
                "insert into meta.extract_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [
                    mid,
                    source,
                    FILES_ENDPOINT,
                    interval[0],
                    interval[1],
                    None,
                    m["row_count"] + m["quarantined"],
                    m["row_count"],
                    None,
                    None,
                    None,
                    m["quarantined"],
                    None,
                    sum(f["bytes"] for f in m["files"]),
                    m.get("duration_s"),
                    [],
                    None,
                    None,
                ],
            )
            conn.execute(
                "insert into meta.loaded_manifests values (?, ?, ?, ?, ?, ?::timestamptz, now())",
                [mid, source, FILES_ENDPOINT, m["run_key"], m["row_count"], m["landed_at"]],
            )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
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
