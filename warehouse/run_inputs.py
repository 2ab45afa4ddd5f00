"""What a publish was computed from, so that a run which would compute the same tables skips
dbt, the gate and the publish.

A transform run's published tables are a function of (1) the raw layer and the rows of
`meta` the marts and reader tables read (the quarantine, the received files, the
watermarks), (2) the run's "as of" day (`meta.run_context.as_of_date`: the as-of views, the
open stops, the overdue reports) and (3) the code that computes them (the dbt project, the
settings passed to dbt as vars, the reader tables and the publish). `fingerprint` hashes all
three — the raw layer by each table's row count and newest `_loaded_at` (the loads only ever
append, and a rebuild from the landing zone gives every row a new `_loaded_at`), the code by
its files' bytes — without reading a row of data: 0.05–0.1 s at SF10.

Each publish records the fingerprint of the inputs its build read (`meta.publish_inputs`);
`unchanged_since` answers with the live publish's id when its fingerprint equals the one
now, i.e. when a build would produce exactly the tables readers already have (the publish
id apart, which names the run). The live file is asked which publish it holds, so after a
rollback the next run publishes again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from settings import Settings, duck
from warehouse import meta
from warehouse.run_context import RunContext

# the code whose change changes the published tables besides the dbt project
_PUBLISH_CODE = ("warehouse/reader_tables.py", "warehouse/publish.py")
# folders of the dbt project that hold its inputs (not dbt's own output)
_DBT_INPUTS = ("models", "macros", "seeds", "snapshots", "tests", "dbt_project.yml", "profiles.yml", "packages.yml")
# meta tables the marts or the reader tables read: (table, the column that orders its rows)
_META_READ = (("quarantine", "quarantined_at"), ("received_files", "loaded_at"))


def _code_digest(settings: Settings) -> str:
    h = hashlib.sha256()
    project = settings.dbt_project_dir
    files = [settings.repo / p for p in _PUBLISH_CODE]
    for name in _DBT_INPUTS:
        path = project / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(settings.repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    # the vars that change what dbt computes (not where the files are, nor DuckDB's memory)
    where = ("working_db", "published_db", "duckdb_memory_limit")
    dbt_vars = {k: v for k, v in settings.dbt_vars().items() if k not in where}
    h.update(json.dumps(dbt_vars, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _data_state(conn) -> list:
    """Per raw table: rows and the newest `_loaded_at`; per meta table read: rows and the
    newest row's time; the watermarks (they travel in the published publish log)."""
    tables = [r[0] for r in conn.execute(
        "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
    ).fetchall()]  # fmt: skip
    state: list = []
    for t in tables:
        state.append([t, *conn.execute(f'select count(*), max(_loaded_at)::varchar from raw."{t}"').fetchone()])
    for t, column in _META_READ:
        state.append([t, *conn.execute(f"select count(*), max({column})::varchar from meta.{t}").fetchone()])
    state.append(
        conn.execute("select list([source, endpoint, watermark] order by all) from meta.watermarks").fetchone()
    )
    return state


def fingerprint(settings: Settings, ctx: RunContext) -> str:
    """The sha256 of everything the run's published tables are computed from."""
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        data = _data_state(conn)
    body = json.dumps({"as_of_date": str(ctx.as_of_date), "data": data, "code": _code_digest(settings)}, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def unchanged_since(settings: Settings, inputs: str) -> str | None:
    """The live publish's id when it was computed from exactly `inputs`, else None."""
    from warehouse.publish import current_publish_id

    if not Path(settings.published_db).exists():
        return None
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        rows = conn.execute("select publish_id from meta.publish_inputs where inputs_sha256 = ?", [inputs]).fetchall()
    if not rows:
        return None
    live = current_publish_id(settings)
    return live if live in {r[0] for r in rows} else None


def remember(settings: Settings, publish_id: str, inputs: str | None) -> None:
    """Record what the publish `publish_id` was computed from (after it went live)."""
    if not inputs:
        return
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        conn.execute("insert or replace into meta.publish_inputs values (?, ?, now())", [publish_id, inputs])
