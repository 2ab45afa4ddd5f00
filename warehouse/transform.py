"""Runs the dbt project against the working database, in-process (dbtRunner).

In-process dbt costs ~0.2 s of start-up against ~4.5 s for the CLI, which matters when it
runs on every publish. Returns the per-node results so the gate can put dbt's tests into
the quality ledger; raises with the failing nodes named when the build fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import duckdb

from settings import Settings, duck
from warehouse import lineage, meta
from warehouse.run_context import RunContext

log = logging.getLogger(__name__)


class DbtBuildFailed(RuntimeError):
    """A model or test failed on this data: running again gives the same result."""


class DbtTransientError(RuntimeError):
    """dbt could not run for a reason outside the data (a lock, a full disk, I/O): retry."""


# What DuckDB and the OS say when the failure is the machine's, not the data's.
TRANSIENT = re.compile(
    r"Could not set lock|Conflicting lock|database is locked|No space left on device|"
    r"I/O error|IO Error|Input/output error|Too many open files|Resource temporarily unavailable",
    re.IGNORECASE,
)


def dbt_args(settings: Settings, *command: str, target_path: Path | None = None) -> list[str]:
    """dbt's command line for this project, the one place it is set up: the project and its
    profiles.yml, the settings as `--vars` (the working database, and dbt's connection's memory
    limit: the same as every other connection's; it spills to DuckDB's default,
    `<working database>.tmp` beside the file), and dbt's target and logs under the data folder
    (another target folder for a parse that must not replace the build's manifest: the
    semantic layer's, warehouse/semantic.py)."""
    project, dbt_dir = settings.dbt_project_dir, settings.dbt_dir
    return [
        *command,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--vars",
        json.dumps(settings.dbt_vars()),
        "--target-path",
        str(target_path or dbt_dir / "target"),
        "--log-path",
        str(dbt_dir / "logs"),
    ]


def generate_docs(settings: Settings) -> Path | None:
    """`dbt docs generate --static` right after a successful build (dbt is loaded there, so it
    costs ~1 s): the build's manifest plus the working database's catalog, as one HTML file
    in the build's target folder (`reader_tables.write_docs` puts it beside the published file).
    A failure is logged, never raised: docs never block a build."""
    try:
        from dbt.cli.main import dbtRunner

        res = dbtRunner().invoke(dbt_args(settings, "docs", "generate", "--static", "--no-compile", "--quiet"))
        if not res.success:
            raise RuntimeError(res.exception or "dbt docs generate failed")
        return settings.dbt_dir / "target" / "static_index.html"
    except Exception as exc:  # the docs page is a convenience: the build stands without it
        log.warning("dbt docs were not generated: %s", exc)
        return None


PROVENANCE_MIGRATION = "staging_tables_carry_source_manifest_id"


def drop_staging_tables_without_provenance(settings: Settings) -> list[str]:
    """Once per working database (`meta.migrations`): drop the incremental staging tables built
    before the staging models carried `source_manifest_id` (the value lineage), so the
    next build makes them afresh from the raw layer (an incremental model equals its full
    refresh) instead of failing on the new column (`on_schema_change='fail'`). Returns the
    tables dropped."""
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        if meta.migration_applied(conn, PROVENANCE_MIGRATION):
            return []
        stale = [
            name
            for (name,) in conn.execute(
                "select t.table_name from duckdb_tables() as t where t.schema_name = 'staging' "
                "and not exists (select 1 from duckdb_columns() as c where c.schema_name = 'staging' "
                "and c.table_name = t.table_name and c.column_name = 'source_manifest_id') order by 1"
            ).fetchall()
        ]
        conn.execute("begin transaction")
        for name in stale:
            conn.execute(f'drop table staging."{name}"')
        meta.record_migration(conn, PROVENANCE_MIGRATION, {"dropped": stale})
        conn.execute("commit")
    if stale:
        log.info("staging tables rebuilt in full for the value lineage's source_manifest_id: %s", ", ".join(stale))
    return stale


def dbt_build(settings: Settings, ctx: RunContext, select: str | None = None, full_refresh: bool = False) -> dict:
    """`dbt build` in-process on the settings' working database, for the run's context (its
    publish id and "as of" day, written to meta.run_context first: the run's data interval
    end, so a re-run or backfill of an interval computes the same)."""
    from dbt.cli.main import dbtRunner
    from dbt_common.invocation import get_invocation_id

    working_db = settings.working_db
    try:
        ctx.record(settings)
        if not select:  # a whole build remakes what the migration drops
            drop_staging_tables_without_provenance(settings)
    except duckdb.IOException as exc:  # another process holds the file, or the disk failed
        raise DbtTransientError(f"could not open the working database {working_db}: {exc}") from exc
    dbt_dir = settings.dbt_dir
    # dbt's unit tests check the models' logic, which only a code change can break: they
    # run in the test suite (tests/dbt/test_dbt_unit_tests.py), not in every publish
    args = dbt_args(settings, "build", "--exclude-resource-type", "unit_test")
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    else:
        args += _unchanged_exclusions(settings, dbt_dir / "state", whole_project=not select)
    res = dbtRunner().invoke(args)
    nodes = []
    for r in getattr(res.result, "results", None) or []:
        node = r.node
        attached = getattr(node, "attached_node", None) or ""
        nodes.append(
            {
                "unique_id": node.unique_id,
                "name": node.name,
                "resource_type": str(node.resource_type),
                "status": str(r.status),
                "failures": getattr(r, "failures", None),
                "message": r.message,
                "seconds": round(r.execution_time or 0, 3),
                "table": attached.split(".")[-1] if attached else "",
            }
        )
    # the id of the invocation that just ran (the result object carries no metadata in 1.11)
    invocation_id = getattr(getattr(res.result, "metadata", None), "invocation_id", None) or get_invocation_id()
    failed = [n for n in nodes if n["status"] in ("error", "fail", "runtime error", "skipped")]
    if not res.success:
        lineage.emit_dbt_events(
            settings, succeeded=False, parent=ctx.lineage_parent
        )  # a catalog shows the failed runs too
        detail = "\n".join(f"  - {n['resource_type']} {n['name']}: {n['status']} {n['message'] or ''}" for n in failed)
        if any(TRANSIENT.search(m) for m in [str(res.exception or ""), *(n["message"] or "" for n in failed)]):
            raise DbtTransientError(
                f"dbt build could not run ({res.exception or 'see nodes'}); retrying may help.\n{detail}"
            )
        raise DbtBuildFailed(
            f"dbt build failed ({res.exception or 'see nodes'}); nothing was published.\n{detail}\n"
            f"Logs: {dbt_dir / 'logs' / 'dbt.log'}"
        )
    if not select:
        _keep_state(settings, dbt_dir / "target" / "manifest.json", dbt_dir / "state")
    generate_docs(settings)  # dbt's docs page, copied beside the file at publish
    lineage.emit_dbt_events(
        settings, parent=ctx.lineage_parent
    )  # after the docs: their catalog gives each model's columns
    slowest = sorted(nodes, key=lambda n: -n["seconds"])[:3]
    log.info(
        "dbt build ok: %d nodes; slowest: %s", len(nodes), ", ".join(f"{n['name']} {n['seconds']}s" for n in slowest)
    )
    return {"invocation_id": invocation_id, "nodes": nodes}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unchanged_exclusions(settings: Settings, state: Path, whole_project: bool = True) -> list[str]:
    """Views and seeds whose definition is what the last complete build into this very
    database created need no rebuilding (a view reads its tables when queried; a seed's rows
    change only with its file): dbt's state comparison leaves them out. Tables, incremental
    models and every data test still run — the tests of a view most of all, since the data
    under it changed: every node is selected by name (`fqn:*`) with indirect selection off,
    because dbt's default (eager) would drop the tests of each view it leaves out. Without a
    state that this database was built from (a fresh or rebuilt database), nothing is left out."""
    manifest = state / "manifest.json"
    if not manifest.exists():
        return []
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        row = conn.execute("select manifest_sha256 from meta.dbt_state").fetchone()
    if row is None or row[0] != _sha256(manifest):
        return []
    everything = ["--select", "fqn:*", "--indirect-selection", "empty"] if whole_project else []
    return [
        "--state",
        str(state),
        *everything,
        "--exclude",
        "state:unmodified,config.materialized:view",
        "state:unmodified,resource_type:seed",
    ]


def _keep_state(settings: Settings, manifest: Path, state: Path) -> None:
    """Remember the manifest of a complete build (and that this database was built from it)."""
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / ".manifest.json.tmp"
    shutil.copyfile(manifest, tmp)
    os.replace(tmp, state / "manifest.json")
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        conn.execute("begin transaction")
        conn.execute("delete from meta.dbt_state")
        conn.execute("insert into meta.dbt_state values (?, now())", [_sha256(state / "manifest.json")])
        conn.execute("commit")
