"""Publishing: write a new published database beside the old one, then swap it in atomically.

The new file is built from the working database's `metrics` schema, closed (no `.wal`
left), fsynced and moved over the published path with `os.replace`. Readers that already
opened the old file keep reading it; new readers get the new one; nobody ever sees half a
publish. The publish log travels inside the published file (old rows + the new one) and is
mirrored to `meta.publish_log` in the working database.

Only after the swap is the live file copied into `published/history/`, with its sha256
beside it (`<file>.sha256`): history holds only publishes that went live. A publish is
idempotent: retried after its swap (the task died before it could report success), it finds
its id in the live file's log, completes what is missing (the history copy, the mirror) and
succeeds without a second `publish_log` row.

Rollback re-publishes a file from history the same way, after checking it against the
checksum recorded when it went live.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from extract.landing import failpoint, fsync_path
from settings import Settings, duck
from warehouse import meta, permissions, reader_tables

log = logging.getLogger(__name__)

# the metrics of metrics.md, then the reader tables (copied with their comments)
PUBLISHED_TABLES = ("plan_metric_values", "metric_catalog", "plan_progress", *reader_tables.READER_TABLES)
KEEP_HISTORY = 5


def _previous_log(settings: Settings, published: Path) -> list[tuple]:
    if not published.exists():
        return []
    with duck.connect(published, settings, read_only=True) as conn:
        return conn.execute("select * from metrics.publish_log order by published_at").fetchall()


def publish(
    settings: Settings,
    publish_id: str,
    checks_passed: int,
    checks_failed: int,
    dbt_invocation_id: str | None,
    published_db: Path | None = None,
    keep: int = KEEP_HISTORY,
) -> dict:
    """Publish the settings' working database's marts (to `published_db`, default the
    settings' published file)."""
    working_db = settings.working_db
    published_db = Path(published_db or settings.published_db)
    history = published_db.parent / "history"
    history.mkdir(parents=True, exist_ok=True)
    for leftover in [*published_db.parent.glob(f".{published_db.stem}-*.duckdb.tmp*"), *history.glob(".*.tmp")]:
        leftover.unlink()  # from a publish that crashed before its swap; never visible to readers
    previous = _previous_log(settings, published_db)
    if any(row[0] == publish_id for row in previous):  # a retry after the swap: finish, do not repeat
        entry = next(row for row in previous if row[0] == publish_id)
        _keep_in_history(published_db, history, publish_id)
        _mirror_log(settings, entry)
        reader_tables.write_docs(settings, published_db.parent)
        permissions.share_published(settings, published_db.parent)
        log.info("publish %s is already live in %s; completed its history and log", publish_id, published_db)
        return {
            "publish_id": publish_id,
            "path": str(published_db),
            "row_counts": json.loads(entry[3]),
            "already_published": True,
        }
    staged = published_db.parent / f".{published_db.stem}-{publish_id}.duckdb.tmp"
    published_at = datetime.now(UTC)
    # Connect to the working database and attach the new file (not the other way round):
    # in-process callers (dbt, `airflow dags test`) may hold the working database open, and
    # DuckDB allows one handle per file per process.
    with duck.connect(working_db, settings) as conn:
        conn.execute(f"attach '{staged}' as pub")
        conn.execute("create schema pub.metrics")
        row_counts = {}
        for table in PUBLISHED_TABLES:
            conn.execute(f"create table pub.metrics.{table} as select * from metrics.{table}")
            row_counts[table] = conn.execute(f"select count(*) from pub.metrics.{table}").fetchone()[0]
        watermarks = {
            f"{s}/{e}": w
            for s, e, w in conn.execute(
                "select source, endpoint, watermark from meta.watermarks order by all"
            ).fetchall()
        }
        meta.create_publish_log(conn, "pub.metrics")
        if previous:
            conn.executemany("insert into pub.metrics.publish_log values (?, ?, ?, ?, ?, ?, ?)", previous)
        entry = (
            publish_id,
            published_at,
            json.dumps(watermarks),
            json.dumps(row_counts),
            checks_passed,
            checks_failed,
            dbt_invocation_id,
        )
        conn.execute("insert into pub.metrics.publish_log values (?, ?, ?, ?, ?, ?, ?)", list(entry))
        reader_tables.add_reader_extras(conn, "pub")  # labeled view, quality summary, comments
        conn.execute("detach pub")  # closes the new file completely: no .wal is left behind
    fsync_path(staged)
    failpoint("before_swap")
    os.replace(staged, published_db)  # the atomic swap: the publish is live
    fsync_path(published_db.parent)
    failpoint("after_swap")
    _keep_in_history(published_db, history, publish_id)
    _prune(history, published_db.stem, keep)
    _mirror_log(settings, entry)
    reader_tables.write_docs(settings, published_db.parent)  # dbt docs page beside the file
    permissions.share_published(settings, published_db.parent)  # the readers group: 2750 / 0640
    log.info("published %s -> %s (%s)", publish_id, published_db, row_counts)
    return {"publish_id": publish_id, "path": str(published_db), "row_counts": row_counts, "watermarks": watermarks}


def _mirror_log(settings: Settings, entry: tuple) -> None:
    with duck.connect(settings.working_db, settings) as conn:
        meta.ensure(conn)
        conn.execute("insert or replace into meta.publish_log values (?, ?, ?, ?, ?, ?, ?)", list(entry))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _keep_in_history(published_db: Path, history: Path, publish_id: str) -> None:
    """Copy the live file into history with its checksum (written aside, then renamed in)."""
    kept = history / f"{published_db.stem}-{publish_id}.duckdb"
    if kept.exists() and Path(f"{kept}.sha256").exists():
        return
    tmp = history / f".{kept.name}.tmp"
    shutil.copyfile(published_db, tmp)
    fsync_path(tmp)
    Path(f"{kept}.sha256").write_text(f"{_sha256(tmp)}  {kept.name}\n", encoding="utf-8")
    os.replace(tmp, kept)
    fsync_path(history)


def verify_history(kept: Path) -> None:
    """Raise when a history file does not match the checksum recorded when it went live."""
    sidecar = Path(f"{kept}.sha256")
    if not sidecar.exists():
        raise SystemExit(f"{kept}: no checksum was recorded for it ({sidecar.name} is missing); not serving it")
    expected = sidecar.read_text(encoding="utf-8").split()[0]
    if _sha256(kept) != expected:
        raise SystemExit(f"{kept}: its bytes no longer match the checksum recorded at publish; not serving it")


def _prune(history: Path, stem: str, keep: int) -> None:
    files = sorted(history.glob(f"{stem}-*.duckdb"), key=lambda p: p.stat().st_mtime_ns)
    for old in files[:-keep] if keep > 0 else []:
        old.unlink()
        Path(f"{old}.sha256").unlink(missing_ok=True)


def list_history(published_db: Path) -> list[Path]:
    """Kept publishes, oldest first (by when they were published)."""
    published_db = Path(published_db)
    history = published_db.parent / "history"
    return sorted(history.glob(f"{published_db.stem}-*.duckdb"), key=lambda p: p.stat().st_mtime_ns)


def current_publish_id(settings: Settings, published_db: Path | None = None) -> str | None:
    """The publish the published file holds (the last row of its own publish log)."""
    log_rows = _previous_log(settings, Path(published_db or settings.published_db))
    return log_rows[-1][0] if log_rows else None


def rollback(settings: Settings, publish_id: str | None = None, published_db: Path | None = None) -> Path:
    """Re-publish an earlier publish from history (default: the one before the current).

    The swap is the same as a publish's (copy beside, fsync, os.replace), so readers see the
    old file or the restored one, never a mix. Rolling back twice walks back twice.
    """
    published_db = Path(published_db or settings.published_db)
    files = list_history(published_db)
    ids = [f.stem.split("-", 1)[1] for f in files]
    if publish_id is None:
        current = current_publish_id(settings, published_db)
        position = ids.index(current) if current in ids else len(ids)
        if position < 1:
            raise SystemExit(f"no publish before {current} in {published_db.parent / 'history'} to roll back to")
        source = files[position - 1]
    else:
        if publish_id not in ids:
            raise SystemExit(f"publish {publish_id} is not in {published_db.parent / 'history'} (kept: {ids})")
        source = files[ids.index(publish_id)]
    verify_history(source)
    staged = published_db.parent / f".{published_db.stem}-rollback.duckdb.tmp"
    shutil.copyfile(source, staged)
    fsync_path(staged)
    os.replace(staged, published_db)
    fsync_path(published_db.parent)
    permissions.share_published(settings, published_db.parent)
    log.warning("rolled back: %s now serves %s", published_db, source.name)
    return source


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m warehouse.publish", description="Published database history and rollback"
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("history", help="list kept publishes, oldest first")
    r = sub.add_parser("rollback", help="re-publish an earlier publish")
    r.add_argument("--to", dest="publish_id", help="publish_id to restore (default: the previous one)")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    permissions.apply_umask()
    if args.cmd == "history":
        current = current_publish_id(settings)
        for f in list_history(settings.published_db):
            pid = f.stem.split("-", 1)[1]
            print(pid, f, "(published now)" if pid == current else "")
        return 0
    restored = rollback(settings, args.publish_id)
    print(f"re-published {restored} as {settings.published_db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
