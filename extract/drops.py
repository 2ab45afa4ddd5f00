"""Extraction from the drop folders (S4 rural-centre reports, S5 plan ledger).

    <incoming>/rural_centre_reports/<YYYY-MM>/<any name>.xlsx|.xls|.csv
    <incoming>/plan_ledger/<any name>.xlsx

Each run picks up every file version not landed before (a file is identified by its path
relative to the drop folder and the sha256 of its bytes, so a re-run does not load a file
twice and a file whose bytes change is a new version; a file whose size and modification
time are those of a version already landed is not even read), parses it, and lands one run:

    <data>/landing/<source>/_files/<run_key>/<table>.part-00000.jsonl   clean rows
                                            /quarantine.jsonl           bad rows, rejected files
                                            /_manifest.json             (extract.landing)

The bytes received go to the restricted store (`extract/originals.py`), never to the
landing zone: uploads carry personal data (填报人, 联系电话) the parser never reads.

One bad file never blocks the folder: a file that cannot be read (corrupt, encrypted, a zip
bomb, a bad cell deep inside, unreadable permissions, gone between listing and reading) or
whose header cannot be found is rejected whole with its reason, and the rest loads. A
rejected version is not read again unless its bytes change (a file the pipeline could not
even open is tried again once its permissions or contents change). File names are
untrusted: only regular files whose resolved path stays inside the drop folder are read
(no symlink or `..` escapes).
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
from extract.originals import OriginalsStore
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
    """(relative path, identity) of every file version already landed for a source: its
    sha256; its size and modification time (so an unchanged file is skipped without being
    read and hashed: thousands of reports sit in the folder); for a file that could not be
    read, its stat() identity."""
    seen = set()
    for run in landed_runs(landing_root, source, FILES_ENDPOINT):
        for f in run.manifest.received:
            seen.add((f.path, f.sha256))
            if f.mtime_ns is not None:
                seen.add((f.path, _unchanged(f.bytes, f.mtime_ns)))
    return seen


def _unchanged(size: int, mtime_ns: int) -> str:
    return f"seen:{size}:{mtime_ns}"


def _stat_identity(path: Path) -> str:
    """Who a file is when its bytes cannot be read: size and times (a chmod changes ctime)."""
    st = path.stat()
    return f"stat:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def _land_file(writer: LandingWriter, source: Source, path: Path, rel: str, data: bytes, sha: str) -> ReceivedFile:
    """Parse one file version and land its rows and quarantine entries (or its rejection)."""
    mtime = _mtime(path)
    received = ReceivedFile(rel, sha, len(data), mtime, "accepted")
    lineage = {"_file_path": rel, "_file_sha256": sha, "_file_mtime": mtime}
    try:
        parsed = source.parser(path, data)
    except spreadsheets.Rejected as exc:
        return _reject(writer, source, received, f"file rejected: {exc}")
    except Exception as exc:  # a parser bug must not block the folder: reject, and say so loudly
        log.exception("%s: %s: the parser failed", source.name, rel)
        return _reject(writer, source, received, f"file rejected: the parser failed ({type(exc).__name__}: {exc})")
    for table, rows in parsed.rows.items():
        writer.write_rows(table, [{**r, **lineage} for r in rows])
    writer.write_quarantine([_quarantine_entry(q, rel) for q in parsed.quarantine])
    received.rows = sum(len(r) for r in parsed.rows.values())
    received.quarantined, received.skipped_rows = len(parsed.quarantine), parsed.skipped
    received.sheet = ", ".join(parsed.sheets) or None
    return received


def _reject(writer: LandingWriter, source: Source, received: ReceivedFile, reason: str) -> ReceivedFile:
    received.status, received.reason = "rejected", reason[:1000]
    log.warning("%s: %s: %s", source.name, received.path, received.reason)
    writer.write_quarantine([_quarantine_entry({"reason": received.reason}, received.path)])
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


def _receive(writer, spec: Source, path: Path, rel: str, seen: set, originals: OriginalsStore) -> ReceivedFile | None:
    """Read one candidate file; None when this version was landed before."""
    try:
        st = path.stat()
        if (rel, _unchanged(st.st_size, st.st_mtime_ns)) in seen:
            return None  # same size and modification time as a version landed before
        data = path.read_bytes()
    except FileNotFoundError:
        received = ReceivedFile(rel, "", 0, "", "accepted")
        return _reject(writer, spec, received, "file rejected: it vanished between listing and reading")
    except OSError as exc:  # permissions, I/O: retried once the file changes (its ctime moves)
        identity = _stat_identity(path)
        if (rel, identity) in seen:
            return None
        received = ReceivedFile(rel, identity, path.stat().st_size, _mtime(path), "accepted")
        return _reject(writer, spec, received, f"file rejected: cannot read it ({type(exc).__name__}: {exc})")
    sha = hashlib.sha256(data).hexdigest()
    if (rel, sha) in seen:
        return None
    originals.keep(f"{sha}{path.suffix.lower()}", data)
    received = _land_file(writer, spec, path, rel, data, sha)
    received.mtime_ns = st.st_mtime_ns if st.st_size == len(data) else None
    return received


def extract_drop_folder(
    source: str,
    incoming: Path,
    landing_root: Path,
    run_key: str,
    interval: tuple | None = None,
    originals_root: Path | None = None,
) -> RunManifest | None:
    """Land every new file version of one drop source; returns the run's manifest, or None
    when the folder holds nothing new. Originals go to `originals_root` (default:
    `<data>/restricted/originals`, beside the landing zone)."""
    spec = SOURCES[source]
    started = time.monotonic()
    writer = LandingWriter(landing_root, source, FILES_ENDPOINT, run_key)
    if (landed := writer.landed()) is not None:
        log.info("%s: run %s already landed; reusing it", source, run_key)
        return landed
    root = Path(incoming).resolve()
    seen = landed_versions(landing_root, source)
    originals = OriginalsStore(originals_root or Path(landing_root).parent / "restricted" / "originals", source)
    originals.prune()
    manifest = RunManifest(source, FILES_ENDPOINT, writer.run_key, interval=list(interval) if interval else None)
    with writer:
        # One file at a time: read, hash, and (when new) keep, parse and land its rows, so
        # memory holds one file, not a backlog of thousands.
        for path in candidate_files(root, spec.name):
            received = _receive(writer, spec, path, path.relative_to(root).as_posix(), seen, originals)
            if received is not None:
                manifest.received.append(received)
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
