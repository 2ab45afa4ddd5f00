"""The uploaded spreadsheets as they arrived: kept apart, restricted, and for a limited time.

Uploads carry personal data the pipeline never reads (填报人 who filled a report in, 联系电话
their phone). The landing zone — which may sit on storage every worker shares — therefore
holds only the rows parsed from a file, without those columns; the original bytes, needed
only to re-parse a file after a parser fix, live in their own store:

    <data>/restricted/originals/<source>/<sha256><suffix>

owned by the pipeline's user alone (folders 0700, files 0600), content-addressed (a file
sent twice is kept once), and pruned after RETENTION_DAYS (`PLAN_METRICS_ORIGINALS_RETENTION_DAYS`,
default 90) — after that, re-parsing means asking the sender again. Nothing here is
published, and nothing here is needed to rebuild the raw layer from the landing zone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

RETENTION_DAYS = 90


def retention_days() -> float:
    return float(os.environ.get("PLAN_METRICS_ORIGINALS_RETENTION_DAYS") or RETENTION_DAYS)


class OriginalsStore:
    def __init__(self, root: Path, source: str):
        self.dir = Path(root) / source

    def _ensure(self) -> None:
        for folder in (self.dir.parent.parent, self.dir.parent, self.dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)

    def keep(self, name: str, data: bytes) -> Path:
        """Store a file's bytes (written aside, fsynced, renamed in: never half a file)."""
        self._ensure()
        path = self.dir / name
        if path.exists():
            return path
        tmp = self.dir / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

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
