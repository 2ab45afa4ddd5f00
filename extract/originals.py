"""The uploaded spreadsheets as they arrived: kept apart, restricted, and for a limited time.

Uploads carry personal data the pipeline never reads (填报人 who filled a report in, 联系电话
their phone). The landing zone — which may sit on storage every worker shares — therefore
holds only the rows parsed from a file, without those columns; the original bytes, needed
only to re-parse a file after a parser fix, live in their own store:

    <data>/restricted/originals/<source>/packs/<time>-<pid>.pack     the bytes of a run's files, one after another
                                        /index.jsonl                 sha256, suffix, pack, offset, length
                                        /<sha256>.notes.jsonl

owned by the pipeline's user alone (folders 0700, files 0600), content-addressed (a file
sent twice is kept once: `read(sha256)` gives its bytes back), and pruned after
RETENTION_DAYS (`PLAN_METRICS_ORIGINALS_RETENTION_DAYS`, default 90) — after that,
re-parsing means asking the sender again. Nothing here is published, and nothing here is
needed to rebuild the raw layer from the landing zone. A run's originals go into one pack
file rather than a file each: thousands of small files cost the drops stage seconds of
file-system work (measured in bench/RESULTS.md).

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


class OriginalsStore:
    def __init__(self, root: Path, source: str):
        self.dir = Path(root) / source
        self._ready = False
        self._known: dict[str, dict] | None = None
        self._pack = self._index_fh = None

    def _ensure(self) -> None:
        if self._ready:
            return
        for folder in (self.dir.parent.parent, self.dir.parent, self.dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
        self._ready = True

    def _index(self) -> dict[str, dict]:
        if self._known is None:
            path = self.dir / "index.jsonl"
            entries = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
            self._known = {e["sha256"]: e for e in map(json.loads, filter(None, entries))}
        return self._known

    def keep(self, name: str, data: bytes) -> None:
        """Keep a file's bytes (`name`: `<sha256>.<suffix>`), once per content, appended to this
        run's pack and then indexed (a crash between the two leaves unindexed bytes only). Not
        fsynced: until the landing run commits, a crash only means the next run reads the file
        again and keeps it again."""
        sha, _, suffix = name.partition(".")
        if sha in self._index():
            return
        self._ensure()
        if self._pack is None:
            (self.dir / "packs").mkdir(mode=0o700, exist_ok=True)
            pack = self.dir / "packs" / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{id(self)}.pack"
            self._pack_name = pack.name
            self._pack = os.fdopen(os.open(pack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            self._index_fh = os.fdopen(
                os.open(self.dir / "index.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8"
            )
        offset = self._pack.tell()
        self._pack.write(data)
        self._pack.flush()
        entry = {"sha256": sha, "suffix": suffix, "pack": self._pack_name, "offset": offset,
                 "length": len(data), "at": time.time()}  # fmt: skip
        self._index_fh.write(json.dumps(entry) + "\n")
        self._known[sha] = entry

    def close(self) -> None:
        for fh in (self._pack, self._index_fh):
            if fh is not None:
                fh.close()
        self._pack = self._index_fh = None

    def read(self, sha256: str) -> bytes | None:
        """A kept original's bytes, or None (never kept, or pruned)."""
        self.close()  # what this store appended is on disk before it is read back
        self._known = None
        entry = self._index().get(sha256)
        if entry is None:
            return None
        with open(self.dir / "packs" / entry["pack"], "rb") as fh:
            fh.seek(entry["offset"])
            return fh.read(entry["length"])

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

    def prune(self, retention_days: float = RETENTION_DAYS, now: float | None = None) -> int:
        """Delete packs (and notes) kept longer than the retention period and their index
        entries; returns how many originals were dropped."""
        if not self.dir.exists():
            return 0
        cutoff = (now or time.time()) - retention_days * 86400
        old_packs = {p.name for p in (self.dir / "packs").glob("*.pack") if p.stat().st_mtime < cutoff}
        for path in self.dir.glob("*.notes.jsonl"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        if not old_packs:
            return 0
        entries = self._index()
        kept = [e for e in entries.values() if e["pack"] not in old_packs]
        tmp = self.dir / f".index.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in kept)
        os.replace(tmp, self.dir / "index.jsonl")
        for name in old_packs:
            (self.dir / "packs" / name).unlink(missing_ok=True)
        self._known = None
        return len(entries) - len(kept)
