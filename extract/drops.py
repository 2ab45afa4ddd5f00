"""Extraction from the drop folders (S4 rural-centre reports, S5 plan ledger).

    <incoming>/rural_centre_reports/<YYYY-MM>/<any name>.xlsx|.xls|.csv
    <incoming>/plan_ledger/<any name>.xlsx

Each run picks up every file version not landed before (a file is identified by its path
relative to the drop folder and the sha256 of its bytes, so a re-run does not load a file
twice and a file whose bytes change is a new version), parses it, and lands one run:

    <data>/landing/<source>/_files/<run_key>/originals/<sha256><suffix>   the bytes received
                                            /<table>.jsonl                 clean rows
                                            /quarantine.jsonl              bad rows, rejected files
                                            /_manifest.json

File names are untrusted: only regular files whose resolved path stays inside the drop
folder are read (no symlink or `..` escapes), and they are stored under their hash.
Personal-data columns (填报人, 联系电话) are never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from extract import spreadsheets
from extract.landing import MANIFEST, safe_key

log = logging.getLogger(__name__)
BEIJING = timezone(timedelta(hours=8))
FILES_ENDPOINT = "_files"
SUFFIXES = {".xlsx", ".xls", ".csv"}


DROP_SOURCES: dict[str, tuple[str, Callable]] = {
    # source -> (folder under the drop folder, parser)
    "rural_centre_reports": ("rural_centre_reports", spreadsheets.parse_report_file),
    "plan_ledger": ("plan_ledger", spreadsheets.parse_ledger_file),
}


def candidate_files(incoming: Path, folder: str) -> list[Path]:
    """Regular files under <incoming>/<folder> that stay inside it, sorted by path."""
    root = Path(incoming).resolve()
    base = (root / folder).resolve()
    if not base.is_dir() or not base.is_relative_to(root):
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith((".", "~$")) or path.suffix.lower() not in SUFFIXES:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            if not path.resolve().is_relative_to(base):
                continue
            found.append(path)
    return found


def landed_versions(landing_root: Path, source: str) -> set[tuple[str, str]]:
    """(relative path, sha256) of every file version already landed for a source."""
    base = Path(landing_root) / source / FILES_ENDPOINT
    seen: set[tuple[str, str]] = set()
    if not base.exists():
        return seen
    for run in base.iterdir():
        manifest = run / MANIFEST
        if run.name.startswith(".") or not manifest.exists():
            continue
        for f in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
            seen.add((f["path"], f["sha256"]))
    return seen


class _JsonlWriter:
    """Appends rows to one JSON-lines file as they are parsed (nothing accumulates in memory)."""

    _encode = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode

    def __init__(self, path: Path):
        self.path, self.rows, self.digest = path, 0, hashlib.sha256()
        self._fh = path.open("wb")

    def write(self, rows) -> None:
        lines = [self._encode(r) + "\n" for r in rows]
        block = "".join(lines).encode()
        self._fh.write(block)
        self.digest.update(block)
        self.rows += len(lines)

    def close(self) -> dict:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        return {"file": self.path.name, "rows": self.rows, "sha256": self.digest.hexdigest()}


def extract_drop_folder(
    source: str, incoming: Path, landing_root: Path, run_key: str, interval: tuple | None = None
) -> dict:
    """Land every new file version of one drop source; returns the manifest (or a no-op summary)."""
    folder, parser = DROP_SOURCES[source]
    started = time.monotonic()
    run_key = safe_key(run_key)
    final_dir = Path(landing_root) / source / FILES_ENDPOINT / run_key
    if (final_dir / MANIFEST).exists():
        manifest = json.loads((final_dir / MANIFEST).read_text(encoding="utf-8"))
        log.info("%s: run %s already landed; reusing it", source, run_key)
        return {**manifest, "reused": True}
    root = Path(incoming).resolve()
    seen = landed_versions(landing_root, source)
    tmp = final_dir.parent / f".tmp-{run_key}-{os.getpid()}"
    writers: dict[str, _JsonlWriter] = {}
    files = []
    try:
        # One file at a time: read, hash, and (when new) keep, parse and append its rows, so
        # memory holds one file, not a backlog of thousands.
        for path in candidate_files(root, folder):
            data = path.read_bytes()
            rel = path.relative_to(root).as_posix()
            sha = hashlib.sha256(data).hexdigest()
            if (rel, sha) in seen:
                continue
            if not files:
                for stale in final_dir.parent.glob(f".tmp-{run_key}-*") if final_dir.parent.exists() else []:
                    shutil.rmtree(stale, ignore_errors=True)  # from a killed run of this key; never visible
                (tmp / "originals").mkdir(parents=True)
                writers["quarantine"] = _JsonlWriter(tmp / "quarantine.jsonl")
            stat = path.stat()
            mtime = datetime.fromtimestamp(stat.st_mtime, tz=UTC).isoformat()
            (tmp / "originals" / f"{sha}{path.suffix.lower()}").write_bytes(data)
            lineage = {"_file_path": rel, "_file_sha256": sha, "_file_mtime": mtime}
            entry = {"path": rel, "sha256": sha, "bytes": len(data), "mtime": mtime}
            try:
                parsed = parser(path, data)
            except spreadsheets.Rejected as exc:
                reason = f"file rejected: {exc}"
                log.warning("%s: %s: %s", source, rel, reason)
                writers["quarantine"].write(
                    [
                        {
                            **lineage,
                            "table": None,
                            "sheet": None,
                            "row_number": None,
                            "column": None,
                            "value": None,
                            "reason": reason,
                        }
                    ]
                )
                files.append({**entry, "status": "rejected", "reason": reason, "rows": 0, "quarantined": 0})
                continue
            for table, rows in parsed.rows.items():
                if table not in writers:
                    writers[table] = _JsonlWriter(tmp / f"{table}.jsonl")
                writers[table].write({**r, **lineage} for r in rows)
            writers["quarantine"].write({**q, **lineage} for q in parsed.quarantine)
            files.append(
                {
                    **entry,
                    "status": "accepted",
                    "rows": sum(len(r) for r in parsed.rows.values()),
                    "quarantined": len(parsed.quarantine),
                    "skipped_rows": parsed.skipped,
                }
            )
        if not files:
            log.info("%s: no new files in %s", source, root / folder)
            return {"source": source, "run_key": run_key, "files": [], "row_count": 0, "quarantined": 0, "noop": True}
        closed = {name: w.close() for name, w in writers.items()}
        quarantined = closed.pop("quarantine")["rows"]
        if not quarantined:
            (tmp / "quarantine.jsonl").unlink()
        table_files = closed
        manifest = {
            "source": source,
            "endpoint": FILES_ENDPOINT,
            "run_key": run_key,
            "manifest_id": f"{source}/{FILES_ENDPOINT}/{run_key}",
            "interval": list(interval) if interval else None,
            "files": files,
            "tables": table_files,
            "row_count": sum(t["rows"] for t in table_files.values()),
            "quarantined": quarantined,
            "quarantine_file": "quarantine.jsonl" if quarantined else None,
            "rejected_files": sum(f["status"] == "rejected" for f in files),
            "duration_s": round(time.monotonic() - started, 3),
            "landed_at": datetime.now(UTC).isoformat(),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, final_dir)
    finally:
        for w in writers.values():
            w.close()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "%s: %d new file version(s), %d rows, %d quarantined, %d file(s) rejected, %.1fs",
        source,
        len(files),
        manifest["row_count"],
        manifest["quarantined"],
        manifest["rejected_files"],
        manifest["duration_s"],
    )
    if manifest["quarantined"]:
        log.warning("%s: %d rows/files quarantined (see meta.quarantine)", source, manifest["quarantined"])
    return manifest
