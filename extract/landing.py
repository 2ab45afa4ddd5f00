"""The immutable landing zone: what each run received, as JSON-lines files plus a manifest.

    <data>/landing/<source>/<endpoint>/<run_key>/<table>.part-00000.jsonl
                                                 quarantine.jsonl
                                                 _manifest.json

An HTTP source lands one run per endpoint (`<endpoint>` is the endpoint's name); a drop
folder lands one run per extraction under the endpoint `_files`, holding every new file
version. Both are written by `LandingWriter` and described by a `RunManifest`.

Manifest versions: 1 listed an HTTP run's parts as `files` and a drop run's tables as
`tables` (read through `_from_version_1`). From 3 on an HTTP run lands its records as they
came (personal fields dropped, unknown fields in `_extra`, `_seq`), unchecked and unhashed:
the load checks them and computes `_record_hash` in DuckDB. Versions 1 and 2 landed rows
already checked, with a content hash of their own and the records that failed in
`quarantine.jsonl`; the load still reads them, hashing their rows the current way (the
hash they carry is ignored). Drop-folder runs are the same in every version.

A run is written into a hidden temporary folder, its files and manifest fsynced, and the
folder renamed into place only when complete, so a folder either holds a whole run or does
not exist. Existing run folders are never rewritten: a retried or re-run task finds its run
already landed and reuses it, which is what makes backfills reproduce what an interval
received. `pending_runs()` is the one reader: the landed runs a loader has not loaded yet,
oldest first, each checked against its manifest's checksums.

The landing zone heals: a run whose manifest cannot be read (left empty by a power loss) or
whose files are missing or fail their checksum is moved aside to
`<source>/<endpoint>/_corrupt/<run_key>-<time>/` with a `REASON.txt`, and the endpoint's
later runs still load. Nothing of it was loaded, so its watermark never advanced: the next
extract asks the source for that interval's changes again (a drop folder's files, no longer
listed as landed, are read again).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

MANIFEST = "_manifest.json"
CORRUPT = "_corrupt"  # runs set aside (run keys never start with "_")
MANIFEST_VERSION = 3
QUARANTINE = "quarantine.jsonl"
FILES_ENDPOINT = "_files"  # a drop folder's runs land under this endpoint name
ROWS_PER_PART = 200_000
STALE_AFTER = 6 * 3600  # seconds after which another run's temporary folder is a leftover


# The failpoint this process stops at, armed once at its edge from its settings
# (`arm_failpoint`): a crash test's hook is the whole process's, and the places it stops
# lie deep under functions that have no other reason to carry the settings.
_armed: tuple[str, Path] | None = None


def arm_failpoint(settings) -> None:
    """Arm the failpoint the settings name (PLAN_METRICS_FAILPOINT / _FILE), or disarm."""
    global _armed
    _armed = (settings.failpoint, settings.failpoint_file) if settings.failpoint and settings.failpoint_file else None


def failpoint(name: str) -> None:
    """Crash tests stop the process here: with the failpoint <name> armed it announces it
    (writes the failpoint file) and waits to be killed. A no-op otherwise."""
    if _armed is not None and _armed[0] == name:
        _armed[1].write_text(name)
        time.sleep(3600)


def safe_key(text: str) -> str:
    """A run key usable as one path component (Airflow run ids contain ':' and '+')."""
    key = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")
    if not key:
        raise ValueError(f"cannot make a run key from {text!r}")
    return key[:200]


@dataclass
class PartFile:
    """One landed data file: rows of one raw table."""

    name: str
    table: str
    rows: int
    bytes: int | None
    sha256: str


@dataclass
class ReceivedFile:
    """A drop-folder file version a run read: accepted (rows landed) or rejected whole."""

    path: str  # relative to the drop folder, shown safely (extract/redact.py: escaped, personal data masked)
    sha256: str  # of the bytes; for a file refused before it was read, its stat() identity
    bytes: int
    mtime: str  # the sender's modification time (shown; orders nothing)
    status: str  # accepted | rejected
    reason: str | None = None
    rows: int = 0
    quarantined: int = 0
    skipped_rows: int = 0
    sheet: str | None = None  # the sheet(s) the rows were read from
    mtime_ns: int | None = None  # with the fields below: how the next run knows the file unchanged unread
    file_id: str | None = None  # who the file is (a hash of its name's bytes; the name itself is restricted)
    ctime_ns: int | None = None
    ino: int | None = None
    received_seq: int | None = None  # the order this run received its files in


@dataclass
class RunManifest:
    """What one landed run holds and how it was received."""

    source: str
    endpoint: str
    run_key: str
    landed_at: str = ""
    interval: list | None = None
    parts: list[PartFile] = field(default_factory=list)
    quarantined: int = 0  # entries in quarantine.jsonl (HTTP runs from version 3: decided at load)
    received: list[ReceivedFile] = field(default_factory=list)  # drop folders
    # how an HTTP endpoint was read
    requested_since: str | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    pages: int | None = None
    records_received: int | None = None
    new_fields: list[str] = field(default_factory=list)
    personal_fields_dropped: list[str] = field(default_factory=list)  # unknown fields not landed: personal data
    retries: int | None = None
    bytes: int | None = None
    duration_s: float | None = None
    present: str | None = None  # the run's present: stamps beyond it (plus a tolerance) are clock skew
    clock_skewed: int = 0  # records stamped after the present (loaded, not in the watermark)
    clock_skew_examples: list[dict] = field(default_factory=list)
    version: int = MANIFEST_VERSION

    @property
    def manifest_id(self) -> str:
        return f"{self.source}/{self.endpoint}/{self.run_key}"

    @property
    def row_count(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def rejected_files(self) -> int:
        return sum(f.status == "rejected" for f in self.received)

    def to_json(self) -> str:
        """The manifest as indented JSON (msgspec: a drop run lists thousands of files)."""
        data = {
            **vars(self),
            "parts": [vars(p) for p in self.parts],
            "received": [vars(f) for f in self.received],
            "manifest_id": self.manifest_id,
        }
        try:
            return msgspec.json.format(msgspec.json.encode(data), indent=2).decode()
        except (TypeError, msgspec.EncodeError):  # a value msgspec does not write (never expected)
            return json.dumps({**asdict(self), "manifest_id": self.manifest_id}, ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunManifest:
        data = json.loads(text)
        if data.get("version", 1) == 1:
            data = _from_version_1(data)
        known = {f.name for f in fields(cls)}
        m = cls(**{k: v for k, v in data.items() if k in known})
        m.parts = [PartFile(**p) for p in data.get("parts", [])]
        m.received = [ReceivedFile(**f) for f in data.get("received", [])]
        return m

    def summary(self, **extra) -> dict:
        """The few numbers a DAG task hands on (XCom) and logs."""
        return {
            "manifest_id": self.manifest_id,
            "row_count": self.row_count,
            "quarantined": self.quarantined,
            "pages": self.pages,
            "retries": self.retries,
            "rejected_files": self.rejected_files,
            **extra,
        }


def _from_version_1(data: dict) -> dict:
    """Manifests landed before the two extractors shared this module: an HTTP run listed its
    parts as `files`, a drop run listed its tables as `tables` and its source files as `files`."""
    data = dict(data)
    if data.get("endpoint") == FILES_ENDPOINT:
        data["received"] = [
            {k: f.get(k) for k in ("path", "sha256", "bytes", "mtime", "status", "reason")}
            | {
                "rows": f.get("rows", 0),
                "quarantined": f.get("quarantined", 0),
                "skipped_rows": f.get("skipped_rows", 0),
            }
            for f in data.get("files", [])
        ]
        data["parts"] = [
            {"name": t["file"], "table": name, "rows": t["rows"], "bytes": None, "sha256": t["sha256"]}
            for name, t in data.get("tables", {}).items()
        ]
    else:
        data["parts"] = [{**f, "table": data["endpoint"]} for f in data.get("files", [])]
    return data


@dataclass
class LandedRun:
    """A complete run in the landing zone."""

    dir: Path
    manifest: RunManifest

    @property
    def id(self) -> str:
        return self.manifest.manifest_id

    def path(self, name: str) -> Path:
        return self.dir / name


def endpoint_dir(landing_root: Path, source: str, endpoint: str) -> Path:
    return Path(landing_root) / source / endpoint


def read_manifest(run_dir: Path) -> RunManifest | None:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return None
    return RunManifest.from_json(path.read_text(encoding="utf-8"))


def landed_runs(landing_root: Path, source: str, endpoint: str) -> list[LandedRun]:
    """Every complete, readable landed run of an endpoint, oldest first (by the order they landed)."""
    return _scan(landing_root, source, endpoint)[0]


@dataclass
class SetAside:
    """A landed run moved out of the way, and why."""

    run_id: str
    path: Path
    reason: str


def _scan(landing_root: Path, source: str, endpoint: str) -> tuple[list[LandedRun], list[tuple[Path, str]]]:
    base = endpoint_dir(landing_root, source, endpoint)
    if not base.exists():
        return [], []
    runs, broken = [], []
    for d in base.iterdir():
        if d.name.startswith((".", "_")) or not d.is_dir():
            continue
        try:
            manifest = read_manifest(d)
        except (ValueError, TypeError, KeyError) as exc:  # empty or cut short by a power loss
            broken.append((d, f"its manifest cannot be read ({type(exc).__name__}: {exc})"))
            continue
        if manifest is None:
            broken.append((d, "it has no manifest"))
            continue
        runs.append(LandedRun(d, manifest))
    return sorted(runs, key=lambda r: (r.manifest.landed_at, r.manifest.run_key)), broken


def pending_runs(
    landing_root: Path, source: str, endpoint: str, loaded: set[str]
) -> tuple[list[LandedRun], list[SetAside]]:
    """Landed runs not in `loaded` (manifest ids), oldest first, each verified; runs that are
    broken are set aside (see the module's docstring) and returned apart."""
    runs, broken = _scan(landing_root, source, endpoint)
    # a run broken after it was loaded is left where it is (its rows are in the raw layer)
    aside = [
        set_aside(d, f"{source}/{endpoint}/{d.name}", reason)
        for d, reason in broken
        if f"{source}/{endpoint}/{d.name}" not in loaded
    ]
    good = []
    for run in runs:
        if run.id in loaded:
            continue
        problem = verify(run)
        if problem:
            aside.append(set_aside(run.dir, run.id, problem))
        else:
            good.append(run)
    return good, aside


def set_aside(run_dir: Path, run_id: str, reason: str) -> SetAside:
    """Move a broken run to `_corrupt/` with its reason; it will not be loaded."""
    folder = run_dir.parent / CORRUPT
    folder.mkdir(exist_ok=True)
    target = folder / f"{run_dir.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    os.replace(run_dir, target)
    (target / "REASON.txt").write_text(
        f"{run_id} was set aside on {datetime.now(UTC).isoformat()}: {reason}\n"
        "Nothing of it was loaded. The next extract of this source asks again for what it held\n"
        "(its watermark did not advance); keep this folder to investigate, then delete it.\n",
        encoding="utf-8",
    )
    fsync_path(run_dir.parent)
    return SetAside(run_id, target, reason)


def verify(run: LandedRun) -> str | None:
    """Why a landed run's files do not match its manifest, or None when they do."""
    for part in run.manifest.parts:
        h = hashlib.sha256()
        try:
            with run.path(part.name).open("rb") as fh:  # in chunks: a part can be hundreds of MB
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return f"{part.name} is missing"
        if h.hexdigest() != part.sha256:
            return f"{part.name} fails its checksum (the landing zone was modified or damaged)"
    return None


def _lines(encode, rows: list[dict]) -> bytes | memoryview:
    """`rows` as JSON lines (UTF-8), encoded in one call rather than one per row (a page of
    visits in half the time).

    Compact JSON of a list of objects joins them with "},{". That string cannot overlap
    itself, so each of the len(rows) - 1 joins is one occurrence of it, and when there are
    no more occurrences than that (none inside a value) every one is a join: replacing
    them all cuts the list into lines. Otherwise each row is encoded alone."""
    data = encode(rows).encode()
    if data.count(b"},{") == len(rows) - 1:
        return memoryview(data.replace(b"},{", b"}\n{"))[1:-1]
    return "".join([encode(row) + "\n" for row in rows]).encode()[:-1]


class _JsonLines:
    """One JSON-lines file being written: rows are encoded, hashed and appended in blocks.

    Rows a JSON reader made (`decoded`: dicts, lists, text, numbers, booleans, None) are
    written by msgspec, seven times faster than the json module; anything it does not take
    as such — NaN or ±Infinity a source sent (`http_client.NonFinite`), the dates of a
    spreadsheet row — by the json module."""

    _encode = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode
    _encode_lines = msgspec.json.Encoder().encode_lines

    def __init__(self, path: Path, table: str, decoded: bool = False):
        self.path, self.table, self.decoded = path, table, decoded
        self.rows = self.bytes = 0
        self.sha256 = hashlib.sha256()
        self.fh = path.open("wb")

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        for block in self._blocks(rows):
            self.fh.write(block)
            self.sha256.update(block)
            self.bytes += len(block)
        self.rows += len(rows)

    def _blocks(self, rows: list[dict]) -> tuple:
        if self.decoded:
            try:
                return (self._encode_lines(rows),)
            except (TypeError, ValueError):  # a value it does not write as it came
                pass
        return (_lines(self._encode, rows), b"\n")

    def write_encoded(self, lines: bytes, count: int) -> None:
        """Rows already encoded as JSON lines (each ending in a newline)."""
        self.fh.write(lines)
        self.sha256.update(lines)
        self.bytes += len(lines)
        self.rows += count

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()

    def part(self) -> PartFile:
        return PartFile(self.path.name, self.table, self.rows, self.bytes, self.sha256.hexdigest())


class LandingWriter:
    """Writes one run of one endpoint (or one drop-folder extraction); `commit()` makes it
    visible atomically. Use as a context manager: leaving without a commit removes the
    temporary folder, so nothing half-written is ever left behind."""

    def __init__(self, landing_root: Path, source: str, endpoint: str, run_key: str, decoded: bool = False):
        """decoded: the rows are values a JSON reader made (see `_JsonLines`)."""
        self.decoded = decoded
        self.base = endpoint_dir(landing_root, source, endpoint)
        self.run_key = safe_key(run_key)
        self.final_dir = self.base / self.run_key
        self.tmp_dir = self.base / f".tmp-{self.run_key}-{os.getpid()}"
        self.source, self.endpoint = source, endpoint
        self._parts: list[_JsonLines] = []
        self._open: dict[str, _JsonLines] = {}
        self._quarantine: _JsonLines | None = None

    def landed(self) -> RunManifest | None:
        """The manifest of this run key when it already landed (a retry or a backfill)."""
        return read_manifest(self.final_dir)

    def __enter__(self) -> LandingWriter:
        # Leftovers of killed processes, never visible (not renamed in): of this run key at
        # once, of any other after STALE_AFTER (no extract runs that long).
        now = time.time()
        for stale in self.base.glob(".tmp-*") if self.base.exists() else []:
            if stale.name.startswith(f".tmp-{self.run_key}-") or now - stale.stat().st_mtime > STALE_AFTER:
                shutil.rmtree(stale, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for f in [*self._parts, *([self._quarantine] if self._quarantine else [])]:
            f.fh.close()
        if self.tmp_dir.exists():  # not committed
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def write_rows(self, table: str, rows: list[dict]) -> None:
        """Append rows of one raw table (a page, or a file's rows), rolling over to a new
        part file every ROWS_PER_PART rows."""
        start = 0
        while start < len(rows):
            current = self._open.get(table)
            if current is None or current.rows >= ROWS_PER_PART:
                if current is not None:
                    current.close()
                index = sum(p.table == table for p in self._parts)
                current = _JsonLines(self.tmp_dir / f"{table}.part-{index:05d}.jsonl", table, self.decoded)
                self._parts.append(current)
                self._open[table] = current
            chunk = rows[start : start + ROWS_PER_PART - current.rows]
            current.write(chunk)
            start += len(chunk)

    def write_lines(self, table: str, count: int, lines: bytes) -> None:
        """Append `count` rows of one raw table already encoded as JSON lines (one file's rows,
        encoded where they were parsed): the part rolls over before it, never inside it."""
        if not count:
            return
        current = self._open.get(table)
        if current is None or current.rows >= ROWS_PER_PART:
            if current is not None:
                current.close()
            index = sum(p.table == table for p in self._parts)
            current = _JsonLines(self.tmp_dir / f"{table}.part-{index:05d}.jsonl", table, self.decoded)
            self._parts.append(current)
            self._open[table] = current
        current.write_encoded(lines, count)

    def write_quarantine(self, entries: list[dict]) -> None:
        """Records or files set aside: {table, file, row_number, column, value, reason, record}."""
        if not entries:
            return
        if self._quarantine is None:
            self._quarantine = _JsonLines(self.tmp_dir / QUARANTINE, "quarantine")
        self._quarantine.write(entries)

    def _landed_at(self) -> str:
        """Now — or, when the clock went back since this endpoint's last run landed, just after
        that run: the order runs landed in is the order their data was received in."""
        now = datetime.now(UTC)
        latest = max((r.manifest.landed_at for r in landed_runs(self.base.parent.parent, self.source, self.endpoint)),
                     default="")  # fmt: skip
        if latest and datetime.fromisoformat(latest) >= now:
            now = datetime.fromisoformat(latest) + timedelta(microseconds=1)
        return now.isoformat()

    def commit(self, manifest: RunManifest) -> RunManifest:
        """Write the manifest and rename the run into place (files and folder fsynced first)."""
        for f in self._parts:
            f.close()
        manifest.parts = [f.part() for f in self._parts]
        manifest.quarantined = 0
        if self._quarantine is not None:
            self._quarantine.close()
            manifest.quarantined = self._quarantine.rows
        manifest.source, manifest.endpoint, manifest.run_key = self.source, self.endpoint, self.run_key
        manifest.landed_at = self._landed_at()
        path = self.tmp_dir / MANIFEST
        with path.open("w", encoding="utf-8") as fh:
            fh.write(manifest.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        fsync_path(self.tmp_dir)
        os.replace(self.tmp_dir, self.final_dir)  # atomic: the run appears whole or not at all
        fsync_path(self.base)
        return manifest


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a rename is durable once its folder is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
