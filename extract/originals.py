"""The uploaded spreadsheets as they arrived: kept apart, restricted, and for a limited time.

Uploads carry personal data the pipeline never reads (填报人 who filled a report in, 联系电话
their phone). The landing zone — which may sit on storage every worker shares — therefore
holds only the rows parsed from a file, without those columns; the original bytes, needed
only to re-parse a file after a parser fix, live in their own store:

    <data>/restricted/originals/<source>/<sha256>.<suffix>
                                        /<sha256>.notes.jsonl

owned by the pipeline's user alone (folders 0700, files 0600), content-addressed (a file
sent twice is kept once), and pruned after RETENTION_DAYS (`PLAN_METRICS_ORIGINALS_RETENTION_DAYS`,
default 90) — after that, re-parsing means asking the sender again. Nothing here is
published, and nothing here is needed to rebuild the raw layer from the landing zone.

The notes beside an original hold what must not leave restricted storage: the file's real
name (its bytes, reversibly escaped: `extract.redact.FileName.from_key`), and the values
of the cells the pipeline set aside, with why, for the people allowed to see the file.

`<data>/restricted/originals/known_names.txt` lists the names read from the uploads'
personal columns (填报人): people often name a file after themselves, so every source masks
these names wherever it shows a file's or a sheet's name.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

RETENTION_DAYS = 90


def retention_days() -> float:
    return float(os.environ.get("PLAN_METRICS_ORIGINALS_RETENTION_DAYS") or RETENTION_DAYS)


class OriginalsStore:
    def __init__(self, root: Path, source: str):
        self.dir = Path(root) / source
        self._ready = False

    def _ensure(self) -> None:
        if self._ready:
            return
        for folder in (self.dir.parent.parent, self.dir.parent, self.dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        self._ready = True

    def keep(self, name: str, data: bytes) -> Path:
        """Store a file's bytes (written aside, renamed in: never half a file). Not fsynced:
        until the landing run commits, a crash only means the next run reads the file again
        and keeps it again."""
        self._ensure()
        path = self.dir / name
        if not path.exists():
            tmp = self.dir / f".{name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return path

    def keep_note(self, sha256: str, note: dict) -> None:
        """Append a note about the original with this content hash (restricted, 0600)."""
        self._ensure()
        fd = os.open(self.dir / f"{sha256}.notes.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**note, "at": time.time()}, ensure_ascii=False) + "\n")

    def notes(self, sha256: str) -> list[dict]:
        path = self.dir / f"{sha256}.notes.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    @property
    def _names_file(self) -> Path:
        return self.dir.parent / "known_names.txt"

    def known_names(self) -> set[str]:
        """Names of people read from personal columns so far, by any source."""
        path = self._names_file
        return set(path.read_text(encoding="utf-8").splitlines()) - {""} if path.exists() else set()

    def learn_names(self, names: set[str]) -> None:
        """Add names to the known ones (written aside and renamed in, 0600)."""
        known = self.known_names()
        if names <= known:
            return
        self._ensure()
        tmp = self._names_file.with_name(f".known_names.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(sorted(known | names)) + "\n")
        os.replace(tmp, self._names_file)

    def prune(self, now: float | None = None) -> int:
        """Delete originals kept longer than the retention period; returns how many."""
        if not self.dir.exists():
            return 0
        cutoff = (now or time.time()) - retention_days() * 86400
        removed = 0
        for path in self.dir.iterdir():
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
