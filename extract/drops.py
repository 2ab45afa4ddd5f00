"""Extraction from the drop folders (S4 rural-centre reports, S5 plan ledger).

    <incoming>/rural_centre_reports/<YYYY-MM>/<any name>.xlsx|.xls|.csv
    <incoming>/plan_ledger/<any name>.xlsx

Each run picks up every file version not landed before (a file is identified by its path
relative to the drop folder and the sha256 of its bytes, so a re-run does not load a file
twice and a file whose bytes change is a new version), parses it, and lands one run:

    <data>/landing/<source>/_files/<run_key>/originals/<sha256><suffix>   the bytes received
                                            /<table>.part-00000.jsonl      clean rows
                                            /quarantine.jsonl              bad rows, rejected files
                                            /_manifest.json                (extract.landing)

File names are untrusted: only regular files whose resolved path stays inside the drop
folder are read (no symlink or `..` escapes), and they are stored under their hash.
Personal-data columns (填报人, 联系电话) are never read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from extract import spreadsheets
from extract.landing import FILES_ENDPOINT, LandingWriter, ReceivedFile, RunManifest, landed_runs
from extract.sources import SOURCES, Source

log = logging.getLogger(__name__)
SUFFIXES = {".xlsx", ".xls", ".csv"}


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
    return {
        (f.path, f.sha256) for run in landed_runs(landing_root, source, FILES_ENDPOINT) for f in run.manifest.received
    }


def _land_file(writer: LandingWriter, source: Source, path: Path, rel: str, data: bytes, sha: str) -> ReceivedFile:
    """Parse one file version and land its rows and quarantine entries (or its rejection)."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()
    writer.keep_original(f"{sha}{path.suffix.lower()}", data)
    received = ReceivedFile(rel, sha, len(data), mtime, "accepted")
    lineage = {"_file_path": rel, "_file_sha256": sha, "_file_mtime": mtime}
    try:
        parsed = source.parser(path, data)
    except spreadsheets.Rejected as exc:
        received.status, received.reason = "rejected", f"file rejected: {exc}"
        log.warning("%s: %s: %s", source.name, rel, received.reason)
        writer.write_quarantine([_quarantine_entry({"reason": received.reason}, rel)])
        return received
    for table, rows in parsed.rows.items():
        writer.write_rows(table, [{**r, **lineage} for r in rows])
    writer.write_quarantine([_quarantine_entry(q, rel) for q in parsed.quarantine])
    received.rows = sum(len(r) for r in parsed.rows.values())
    received.quarantined, received.skipped_rows = len(parsed.quarantine), parsed.skipped
    return received


def _quarantine_entry(q: dict, rel: str) -> dict:
    return {
        "table": q.get("table"),
        "file": rel,
        "row_number": q.get("row_number"),
        "column": q.get("column"),
        "value": q.get("value"),
        "reason": q["reason"],
    }


def extract_drop_folder(
    source: str, incoming: Path, landing_root: Path, run_key: str, interval: tuple | None = None
) -> RunManifest | None:
    """Land every new file version of one drop source; returns the run's manifest, or None
    when the folder holds nothing new."""
    spec = SOURCES[source]
    started = time.monotonic()
    writer = LandingWriter(landing_root, source, FILES_ENDPOINT, run_key)
    if (landed := writer.landed()) is not None:
        log.info("%s: run %s already landed; reusing it", source, run_key)
        return landed
    root = Path(incoming).resolve()
    seen = landed_versions(landing_root, source)
    manifest = RunManifest(source, FILES_ENDPOINT, writer.run_key, interval=list(interval) if interval else None)
    with writer:
        # One file at a time: read, hash, and (when new) keep, parse and land its rows, so
        # memory holds one file, not a backlog of thousands.
        for path in candidate_files(root, spec.name):
            data = path.read_bytes()
            rel = path.relative_to(root).as_posix()
            sha = hashlib.sha256(data).hexdigest()
            if (rel, sha) in seen:
                continue
            manifest.received.append(_land_file(writer, spec, path, rel, data, sha))
        if not manifest.received:
            log.info("%s: no new files in %s", source, root / spec.name)
            return None
        manifest.duration_s = round(time.monotonic() - started, 3)
        writer.commit(manifest)
    log.info(
        "%s: %d new file version(s), %d rows, %d quarantined, %d file(s) rejected, %.1fs",
        source,
        len(manifest.received),
        manifest.row_count,
        manifest.quarantined,
        manifest.rejected_files,
        manifest.duration_s,
    )
    if manifest.quarantined:
        log.warning("%s: %d rows/files quarantined (see meta.quarantine)", source, manifest.quarantined)
    return manifest
