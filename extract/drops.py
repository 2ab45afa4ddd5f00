"""Extraction from the drop folders (S4 rural-centre reports, S5 plan ledger).

    <incoming>/rural_centre_reports/<YYYY-MM>/<any name>.xlsx|.xls|.csv
    <incoming>/plan_ledger/<any name>.xlsx

Each run picks up every file version not landed before and lands one run:

    <data>/landing/<source>/_files/<run_key>/<table>.part-00000.jsonl   clean rows
                                            /quarantine.jsonl           bad rows, refused files
                                            /_manifest.json             (extract.landing)

Everything in a drop folder is untrusted, names included (sources.md). So:

- **Names are bytes.** The folder is walked as bytes through directory descriptors opened
  with `O_NOFOLLOW`, so no name (GBK from a Windows share, a newline, a leading `-`) stops
  the walk and no symlink swapped in later can lead outside it. Outside restricted storage a
  file is its `FileName.id` and its shown name (`extract/redact.py`: escaped, personal data
  masked); its real name is kept beside the original in restricted storage.
- **Bounded before a byte is read.** A file is opened with `O_NOFOLLOW | O_NONBLOCK`, checked
  on that descriptor (a regular file — a FIFO, device or symlink is refused, never waited
  on — of at most `max_bytes`), and read from that same descriptor.
- **Taken once complete.** A file is taken once nothing has changed it for the quiet period
  (its inode's change time, which the kernel sets and a sender cannot); partial-upload
  names (`*.part`, `*.tmp`, `*.crdownload`, `~$*` lock files, dot files) are ignored. A run
  waits (at most the quiet period) for files that are still settling; a file that changes
  while it is read is left for the next run.
- **Received order, not the sender's clock.** Files are received in the order they arrived
  (inode change time, then modification time, then name), numbered `received_seq` within
  the run; runs land in order (`extract/landing.py`). Staging keeps the row of the file
  received last; the sender's mtime is shown, never used to order.
- **Parsed in isolation.** Every file is parsed by a worker of `extract/parse_pool.py`
  (hard memory, CPU and wall limits): a file that breaches one is refused with the limit
  it crossed, and the rest of the folder loads.

A file version is identified by its name's bytes and the sha256 of its content, so a re-run
never loads it twice and a changed file is a new version; a file whose size, times and inode
match a version seen before is not read again, and a refused file is not read again until it
changes. Rejection and quarantine entries name the file, sheet, row, column and the kind of
problem, never a cell's text; the values themselves go to restricted storage with the
original bytes (`extract/originals.py`), for those allowed to see the file.

Settings: PLAN_METRICS_DROP_QUIET_SECONDS (60), PLAN_METRICS_UPLOAD_MAX_BYTES (16 MiB), and
the parse pool's (extract/parse_pool.py).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from extract.landing import FILES_ENDPOINT, LandingWriter, ReceivedFile, RunManifest, landed_runs
from extract.originals import RETENTION_DAYS, OriginalsStore
from extract.parse_pool import Job, Outcome, ParseLimits, ParsePool
from extract.redact import FileName, mask_text
from extract.sources import SOURCES

log = logging.getLogger(__name__)
SUFFIXES = {b"xlsx", b"xls", b"csv"}
PARTIAL = (b".part", b".tmp", b".crdownload", b".partial", b".download", b"#")
QUIET_SECONDS = 60.0
MAX_BYTES = 16 * 1024 * 1024
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_OPEN_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class DropSettings:
    quiet_seconds: float = QUIET_SECONDS
    max_bytes: int = MAX_BYTES
    parse: ParseLimits = ParseLimits()
    originals_retention_days: float = RETENTION_DAYS

    @classmethod
    def of(cls, settings) -> DropSettings:
        """The drop folders' part of the pipeline's settings (settings.Settings)."""
        return cls(
            quiet_seconds=settings.drop_quiet_seconds,
            max_bytes=settings.upload_max_bytes,
            parse=ParseLimits.of(settings),
            originals_retention_days=settings.originals_retention_days,
        )


@dataclass
class Candidate:
    """A directory entry found by the walk, with what lstat() said of it."""

    name: FileName  # relative to the drop folder
    dir_fd: int
    entry: bytes  # its name inside its directory
    st: os.stat_result

    @property
    def identity(self) -> str:
        """Who this version of the file is without reading it."""
        st = self.st
        return f"seen:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _ignored(name: bytes) -> bool:
    return name.startswith((b".", b"~$")) or name.lower().endswith(PARTIAL)


class Listing:
    """The entries under <incoming>/<folder>, walked as bytes through directory descriptors
    that stay open until the listing is closed (a file is opened relative to the descriptor
    of the directory it was listed in, so no path is resolved twice)."""

    def __init__(self, incoming: Path, folder: str):
        self.fds: list[int] = []
        self.entries: list[Candidate] = []
        root = Path(incoming).resolve()
        base = (root / folder).resolve()
        if base.is_dir() and base.is_relative_to(root):
            try:  # names are relative to the drop folder, as sources.md writes them
                self._walk(self._open(os.open(base, _OPEN_DIR)), os.fsencode(folder) + b"/")
            except BaseException:
                self.__exit__()
                raise

    def _open(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def _walk(self, dir_fd: int, prefix: bytes) -> None:
        try:
            names = sorted(os.fsencode(n) for n in os.listdir(dir_fd))
        except OSError as exc:  # a folder this user may not list: the rest of the drop folder goes on
            log.warning("cannot list %s: %s", FileName(prefix).shown(), os.strerror(exc.errno or 0))
            return
        for name in names:
            if _ignored(name):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue  # gone since the listing, or not ours to look at
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = self._open(os.open(name, _OPEN_DIR, dir_fd=dir_fd))
                except OSError:
                    log.warning("cannot open the folder %s (or it became a link)", FileName(prefix + name).shown())
                    continue  # never followed
                self._walk(sub, prefix + name + b"/")
            else:
                self.entries.append(Candidate(FileName(prefix + name), dir_fd, name, st))

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *exc) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def candidate_files(incoming: Path, folder: str) -> list[FileName]:
    """The names of every entry under <incoming>/<folder> (files, and links, FIFOs… to be refused)."""
    with Listing(incoming, folder) as listing:
        return [c.name for c in listing.entries]


def landed_versions(landing_root: Path, source: str) -> set[tuple[str, str]]:
    """(file, identity) of every file version already received for a source: its sha256,
    and the stat() identity that lets an unchanged file be skipped unread. A file is its
    `file_id` (runs before names were bytes: its path)."""
    seen = set()
    for run in landed_runs(landing_root, source, FILES_ENDPOINT):
        for f in run.manifest.received:
            who = f.file_id or f.path
            seen.add((who, f.sha256))
            if f.ctime_ns is not None:
                seen.add((who, f"seen:{f.bytes}:{f.mtime_ns}:{f.ctime_ns}:{f.ino}"))
            elif f.mtime_ns is not None:
                seen.add((who, f"seen:{f.bytes}:{f.mtime_ns}"))
    return seen


def _already(seen: set, c: Candidate) -> bool:
    who = c.name.id
    legacy = c.name.key if c.name.encoding == "utf-8" else None
    st = c.st
    keys = [(who, c.identity)]
    if legacy is not None:  # a version landed before file ids: path, size and mtime
        keys.append((legacy, f"seen:{st.st_size}:{st.st_mtime_ns}"))
    return any(k in seen for k in keys)


def settled_new_files(
    incoming: Path, source: str, seen: set, quiet_seconds: float, now: float | None = None
) -> list[tuple[str, str]]:
    """(file id, stat identity) of each entry of the source's drop folder that no run received
    yet (`seen`: `landed_versions` plus what the caller saw since) and that nothing changed for
    the quiet period: what an extract would take now. Nothing is opened or read (the
    drop-folder watcher's question, dags/plan_dag_lib/drop_watch.py)."""
    now = time.time() if now is None else now
    with Listing(incoming, SOURCES[source].name) as listing:
        return [
            (c.name.id, c.identity)
            for c in listing.entries
            if now - c.st.st_ctime_ns / 1e9 >= quiet_seconds and not _already(seen, c)
        ]


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def _received(c: Candidate, st: os.stat_result, sha: str, status: str = "accepted", reason=None) -> ReceivedFile:
    return ReceivedFile(
        c.name.shown(),
        sha,
        st.st_size,
        _iso(st.st_mtime_ns),
        status,
        reason,
        mtime_ns=st.st_mtime_ns,
        file_id=c.name.id,
        ctime_ns=st.st_ctime_ns,
        ino=st.st_ino,
    )


class _Later(Exception):
    """The file is not complete yet: leave it for a later look (not refused, not landed)."""


def _refuse(c: Candidate, st: os.stat_result, reason: str) -> ReceivedFile:
    return _received(c, st, c.identity, "rejected", f"file rejected: {reason}")


def _read(c: Candidate, settings: DropSettings, now: float) -> tuple[ReceivedFile | None, bytes | None]:
    """Open, check and read one candidate from the descriptor that was checked: (refusal, None)
    or (None, its bytes); _Later when it is not complete yet."""
    st = c.st
    if stat.S_ISLNK(st.st_mode):
        return _refuse(c, st, "a symbolic link (links are never followed)"), None
    if stat.S_ISREG(st.st_mode) and c.name.suffix.encode() not in SUFFIXES:
        return _refuse(c, st, "unsupported file type (expected .xlsx, .xls or .csv)"), None
    if now - st.st_ctime_ns / 1e9 < settings.quiet_seconds:
        raise _Later
    try:
        fd = os.open(c.entry, _OPEN_FILE, dir_fd=c.dir_fd)
    except FileNotFoundError:
        raise _Later from None  # gone (or renamed) since the listing
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _refuse(c, st, "a symbolic link (swapped in after the folder was listed)"), None
        return _refuse(c, st, f"cannot open it: {os.strerror(exc.errno)}"), None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(fst.st_mode) else "a device" if stat.S_ISCHR(fst.st_mode) or stat.S_ISBLK(
                fst.st_mode) else "a socket" if stat.S_ISSOCK(fst.st_mode) else "not a regular file"  # fmt: skip
            return _refuse(c, fst, f"{kind}, not a regular file"), None
        if (fst.st_ino, fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns,
                                                                            st.st_ctime_ns):  # fmt: skip
            raise _Later  # changed since it was listed
        if fst.st_size > settings.max_bytes:
            return _refuse(
                c, fst, f"the file is {fst.st_size:,} bytes, more than the {settings.max_bytes:,} allowed"
            ), None
        if fst.st_size == 0:
            return _refuse(c, fst, "the file is empty (0 bytes)"), None
        data = _read_fd(fd, fst.st_size)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if len(data) != fst.st_size or (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
        fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns):  # fmt: skip
        raise _Later  # still being written
    return None, data


def _read_fd(fd: int, size: int) -> bytes:
    """At most size + 1 bytes (one more shows the file grew)."""
    chunks, left = [], size + 1
    while left > 0:
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Run:
    """One extraction of one drop folder: what it received, landed and refused."""

    def __init__(self, source: str, writer: LandingWriter, seen: set, originals: OriginalsStore, settings):
        self.spec = SOURCES[source]
        self.writer, self.seen, self.originals, self.settings = writer, seen, originals, settings
        self.received: list[ReceivedFile] = []
        self.waiting: list[Candidate] = []
        self.names = originals.known_names()  # people's names to mask in shown names
        self._in_flight = 0  # items yielded (jobs, refusals) not landed yet
        # originals are written by a thread of their own, beside the parsing (`kept()` waits)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="originals")
        self.keeping: list = []

    def kept(self) -> None:
        """Every original written (an error writing one is raised here)."""
        for future in self.keeping:
            future.result()
        self.keeping = []
        self._io.shutdown()
        self.originals.close()

    def take(self, candidates: list[Candidate], pool: ParsePool) -> None:
        """Read the candidates that are complete (one at a time, as the pool asks for them),
        parse them in the pool, and land them and the refusals in arrival order."""
        self.waiting = []
        for item in pool.map(self._items(candidates, time.time())):
            if isinstance(item, tuple):
                self._land_refusal(*item)
            else:
                self._land(item)

    def _items(self, candidates: list[Candidate], now: float) -> Iterator[Job | tuple[ReceivedFile, Candidate]]:
        for c in candidates:
            try:
                refusal, data = _read(c, self.settings, now)
            except _Later:
                self.waiting.append(c)
                continue
            self.seen.add((c.name.id, c.identity))
            if refusal is not None:
                self._in_flight += 1
                yield refusal, c
                continue
            sha = hashlib.sha256(data).hexdigest()
            if (c.name.id, sha) in self.seen:
                continue
            self.seen.add((c.name.id, sha))
            self.keeping.append(self._io.submit(self.originals.keep, f"{sha}.{c.name.suffix or 'bin'}", data))
            # every item is landed in the order it is yielded: its place is the number landed before it
            seq = len(self.received) + self._in_flight
            self._in_flight += 1
            lineage = {"_file_sha256": sha, "_file_mtime": _iso(c.st.st_mtime_ns), "_file_received_seq": seq}
            landing = {"raw_name": c.name.raw, "lineage": lineage, "known": sorted(self.names)}
            yield Job(self.spec.name, f"upload.{c.name.suffix}", data, (c, sha), landing)

    def _note_name(self, c: Candidate, sha: str, shown: str) -> None:
        """A name shown otherwise than it is (escaped, masked, not UTF-8): the real one, restricted."""
        if shown != c.name.key:
            self.originals.keep_note(sha, {"name": c.name.key, "file_id": c.name.id, "shown": shown})

    def _land_refusal(self, received: ReceivedFile, c: Candidate | None = None) -> None:
        self._in_flight -= 1
        if c is not None and self.names:
            received.path = c.name.shown(self.names)
            received.reason = mask_text(received.reason, self.names)
        received.received_seq = len(self.received)
        self.received.append(received)
        log.warning("%s: %s: %s", self.spec.name, received.path, received.reason)
        self.writer.write_quarantine([_entry({"reason": received.reason}, received.path)])

    def _land(self, outcome: Outcome) -> None:
        c, sha = outcome.job.tag
        self._in_flight -= 1
        st = c.st
        if outcome.parsed is None:
            self._note_name(c, sha, c.name.shown(self.names))
            self.originals.keep_note(sha, {"refused": outcome.rejected, "detail": outcome.detail})
            self._in_flight += 1  # counted once, as a job
            self._land_refusal(_received(c, st, sha, "rejected", f"file rejected: {outcome.rejected}"[:1000]), c)
            return
        ready = outcome.parsed  # Parsed.for_landing, done by the worker
        found = set(ready["names"])
        if not found <= self.names:
            self.names |= found
            self.originals.learn_names(found)
        received = _received(c, st, sha)
        received.path = ready["path"]
        self._note_name(c, sha, received.path)
        received.received_seq = len(self.received)
        assert received.received_seq == outcome.job.landing["lineage"]["_file_received_seq"]
        for table, (count, lines) in ready["tables"].items():
            self.writer.write_lines(table, count, lines)
        quarantine = ready["quarantine"]
        self.writer.write_quarantine([_entry(q, received.path) for q in quarantine])
        if quarantine:
            self.originals.keep_note(sha, {"quarantined": [{k: q.get(k) for k in ("sheet", "row_number", "column",
                                                             "raw_value", "reason")} for q in quarantine]})  # fmt: skip
        received.rows = sum(count for count, _ in ready["tables"].values())
        received.quarantined, received.skipped_rows = len(quarantine), ready["skipped"]
        received.sheet = ", ".join(ready["sheets"]) or None
        self.received.append(received)


def _entry(q: dict, path: str) -> dict:
    """A quarantine entry as it may be landed: no cell text (`value` is already shown safely)."""
    return {
        "table": q.get("table"),
        "file": path,
        "row_number": q.get("row_number"),
        "column": q.get("column"),
        "value": q.get("value"),
        "reason": q["reason"],
        "record": q.get("record"),  # a row's sheet and identity (codes and dates only: spreadsheets.IDENTITY)
    }


def _arrival_order(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.st.st_ctime_ns, c.st.st_mtime_ns, c.name.raw))


def _take_new(run: _Run, incoming: Path, pool: ParsePool) -> None:
    """One look at the folder: its entries not seen before, taken in arrival order."""
    with Listing(incoming, run.spec.name) as listing:
        run.take(_arrival_order([c for c in listing.entries if not _already(run.seen, c)]), pool)


def extract_drop_folder(
    source: str,
    incoming: Path,
    landing_root: Path,
    run_key: str,
    interval: tuple | None = None,
    originals_root: Path | None = None,
    *,
    settings: DropSettings,
    pool: ParsePool | None = None,
) -> RunManifest | None:
    """Land every new, complete file version of one drop source; returns the run's manifest,
    or None when the folder holds nothing new. Originals go to `originals_root` (default:
    `<data>/restricted/originals`, beside the landing zone). `settings`: the drop folders'
    part of the pipeline's settings (`DropSettings.of`). `pool`: parse workers already
    started (the run starts its own otherwise)."""
    started = time.monotonic()
    # decoded: the rows are plain values (a worker's msgpack answer), written by msgspec
    writer = LandingWriter(landing_root, source, FILES_ENDPOINT, run_key, decoded=True)
    if (landed := writer.landed()) is not None:
        log.info("%s: run %s already landed; reusing it", source, run_key)
        return landed
    seen = landed_versions(landing_root, source)
    originals = OriginalsStore(originals_root or Path(landing_root).parent / "restricted" / "originals", source)
    originals.prune(settings.originals_retention_days)
    manifest = RunManifest(source, FILES_ENDPOINT, writer.run_key, interval=list(interval) if interval else None)
    with writer, nullcontext(pool) if pool is not None else ParsePool(settings.parse) as pool:
        run = _Run(source, writer, seen, originals, settings)
        _take_new(run, incoming, pool)
        deadline = time.monotonic() + settings.quiet_seconds + 5
        while run.waiting and time.monotonic() < deadline:  # files still settling: wait for them, boundedly
            time.sleep(min(1.0, max(0.05, settings.quiet_seconds / 10)))
            _take_new(run, incoming, pool)
        if run.waiting:
            log.info("%s: %d file(s) still being written; a later run takes them", source, len(run.waiting))
        run.kept()
        manifest.received = run.received
        if not manifest.received:
            log.info("%s: no new files in %s", source, Path(incoming) / source)
            return None
        manifest.duration_s = round(time.monotonic() - started, 3)
        writer.commit(manifest)
    _log_run(source, manifest, pool)
    return manifest


def _log_run(source: str, manifest: RunManifest, pool: ParsePool) -> None:
    log.info(
        "%s: %d new file version(s), %d rows, %d quarantined, %d file(s) rejected, %.1fs "
        "(parse workers: peak %d MB, %d replaced)",
        source,
        len(manifest.received),
        manifest.row_count,
        manifest.quarantined,
        manifest.rejected_files,
        manifest.duration_s,
        pool.peak_rss_kb // 1024,
        pool.restarts,
    )
    if manifest.quarantined:
        log.warning("%s: %d rows/files quarantined (see meta.quarantine)", source, manifest.quarantined)
