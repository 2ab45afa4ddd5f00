"""The immutable landing zone: what each run received, as JSON-lines files plus a manifest.

    <data>/landing/<source>/<endpoint>/<run_key>/part-00000.jsonl
                                                 quarantine.jsonl
                                                 _manifest.json

A run is written into a hidden temporary folder and renamed into place only when complete,
with the manifest inside, so a folder either holds a whole run or does not exist. Existing
run folders are never rewritten: a retried or re-run task finds its run already landed and
reuses it, which is what makes backfills reproduce what an interval received.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "_manifest.json"
ROWS_PER_PART = 200_000


def failpoint(name: str) -> None:
    """Crash tests stop the process here: with PLAN_METRICS_FAILPOINT=<name> it announces it
    (writes the file PLAN_METRICS_FAILPOINT_FILE) and waits to be killed. A no-op otherwise."""
    if os.environ.get("PLAN_METRICS_FAILPOINT") == name:
        Path(os.environ["PLAN_METRICS_FAILPOINT_FILE"]).write_text(name)
        time.sleep(3600)


def safe_key(text: str) -> str:
    """A run key usable as one path component (Airflow run ids contain ':' and '+')."""
    key = re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("._")
    if not key:
        raise ValueError(f"cannot make a run key from {text!r}")
    return key[:200]


def endpoint_dir(landing_root: Path, source: str, endpoint: str) -> Path:
    return Path(landing_root) / source / endpoint


def read_manifest(run_dir: Path) -> dict | None:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def list_manifests(landing_root: Path, source: str, endpoint: str) -> list[dict]:
    """Every complete landed run of an endpoint, oldest first (by the order they landed)."""
    base = endpoint_dir(landing_root, source, endpoint)
    if not base.exists():
        return []
    manifests = [m for d in base.iterdir() if not d.name.startswith(".") and (m := read_manifest(d))]
    return sorted(manifests, key=lambda m: (m["landed_at"], m["run_key"]))


@dataclass
class _Part:
    path: Path
    rows: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    bytes: int = 0


class LandingWriter:
    """Writes one run of one endpoint; `commit()` makes it visible atomically."""

    def __init__(self, landing_root: Path, source: str, endpoint: str, run_key: str):
        self.base = endpoint_dir(landing_root, source, endpoint)
        self.run_key = safe_key(run_key)
        self.final_dir = self.base / self.run_key
        self.tmp_dir = self.base / f".tmp-{self.run_key}-{os.getpid()}"
        self.source, self.endpoint = source, endpoint
        self._parts: list[_Part] = []
        self._quarantine = 0
        self._qfile = None
        self._fh = None

    @property
    def already_landed(self) -> bool:
        return (self.final_dir / MANIFEST).exists()

    def __enter__(self) -> LandingWriter:
        # leftovers of this run key from a killed process (never visible: not renamed in)
        for stale in self.base.glob(f".tmp-{self.run_key}-*") if self.base.exists() else []:
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for fh in (self._fh, self._qfile):
            if fh is not None and not fh.closed:
                fh.close()
        if self.tmp_dir.exists():  # not committed: leave nothing half-written behind
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def _line(self, obj: dict) -> bytes:
        return (self._encode(obj) + "\n").encode()

    def write_rows(self, rows: list[dict]) -> None:
        """Append rows (one page at a time: encoded, hashed and written as one block)."""
        start = 0
        while start < len(rows):
            if not self._parts or self._parts[-1].rows >= ROWS_PER_PART:
                if self._fh is not None:
                    self._fh.close()
                part = _Part(self.tmp_dir / f"part-{len(self._parts):05d}.jsonl")
                self._parts.append(part)
                self._fh = part.path.open("wb")
            part = self._parts[-1]
            chunk = rows[start : start + ROWS_PER_PART - part.rows]
            block = "".join([self._encode(row) + "\n" for row in chunk]).encode()
            self._fh.write(block)
            part.sha256.update(block)
            part.rows += len(chunk)
            part.bytes += len(block)
            start += len(chunk)

    def write_quarantine(self, entries: list[dict]) -> None:
        if not entries:
            return
        if self._qfile is None:
            self._qfile = (self.tmp_dir / "quarantine.jsonl").open("wb")
        for e in entries:
            self._qfile.write(self._line(e))
        self._quarantine += len(entries)

    def commit(self, manifest: dict) -> dict:
        for fh in (self._fh, self._qfile):
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
        manifest = {
            **manifest,
            "source": self.source,
            "endpoint": self.endpoint,
            "run_key": self.run_key,
            "manifest_id": f"{self.source}/{self.endpoint}/{self.run_key}",
            "row_count": sum(p.rows for p in self._parts),
            "quarantined": self._quarantine,
            "files": [
                {"name": p.path.name, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256.hexdigest()}
                for p in self._parts
            ],
            "quarantine_file": "quarantine.jsonl" if self._quarantine else None,
        }
        (self.tmp_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(self.tmp_dir, self.final_dir)  # atomic: the run appears whole or not at all
        return manifest


def verify(run_dir: Path, manifest: dict) -> None:
    """Check a landed run's files against its manifest before loading them."""
    for f in manifest["files"]:
        h = hashlib.sha256()
        with (Path(run_dir) / f["name"]).open("rb") as fh:  # in chunks: a part can be hundreds of MB
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != f["sha256"]:
            raise ValueError(f"{run_dir}/{f['name']}: checksum mismatch; the landing zone was modified")
