"""A disk-backed store of every version the simulated sources ever publish.

The generators stream versions into SQLite in batches, so the served world never has to
fit in memory; pages are answered by index range scans: the latest version of each record
visible at the clock, ordered by (updated_at, id) — keyset cursors for S2/S3, offsets for
S1. A page of offset `o` resumes from the key that ended the page before it when the
listing has not changed since (clock, filter and live edits equal), so a full offset pass
costs a range scan per page, not an O(offset) skip; a changed listing is re-counted from
its start, which is what makes rows shift between offset pages as in the real system.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from simulator.orders import Version
from simulator.world import bj_iso

SCHEMA = """
create table if not exists versions (
    entity text not null,
    record_id text not null,
    seq integer not null,
    updated_at integer not null,
    body text not null,
    primary key (entity, record_id, seq)
) without rowid;
create index if not exists versions_by_time on versions (entity, updated_at, record_id, seq);
create table if not exists meta (key text primary key, value text not null);
"""

CURRENT = """
    from versions v
    where v.entity = ?1 and v.updated_at <= ?2 and v.updated_at >= ?3
      and v.seq = (select max(w.seq) from versions w
                   where w.entity = v.entity and w.record_id = v.record_id and w.updated_at <= ?2)
"""


class VersionStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._conn.execute("pragma journal_mode = wal")
        self._conn.executescript(SCHEMA)
        # One connection serves every handler thread: serialise its use.
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every live edit (see touch)
        self._resume: OrderedDict = OrderedDict()  # (entity, clock, since, gen, offset) -> key
        self._totals: OrderedDict = OrderedDict()

    def is_built_for(self, fingerprint: str) -> bool:
        row = self._conn.execute("select value from meta where key = 'fingerprint'").fetchone()
        return row is not None and row[0] == fingerprint

    def rebuild(self, fingerprint: str, versions: Iterable[Version]) -> int:
        conn = self._conn
        conn.execute("pragma synchronous = off")
        conn.execute("delete from versions")
        conn.execute("delete from meta")
        total = 0
        it = iter(versions)
        while batch := list(islice(it, 20_000)):
            conn.executemany(
                "insert into versions values (?, ?, ?, ?, ?)",
                [(v.entity, v.record_id, v.seq, v.updated_at, json.dumps(v.body, ensure_ascii=False)) for v in batch],
            )
            total += len(batch)
        conn.execute("insert into meta values ('fingerprint', ?)", (fingerprint,))
        conn.commit()
        conn.execute("pragma synchronous = full")
        return total

    def page_after(self, entity: str, clock: int, since: int, after: tuple[int, str] | None, limit: int):
        """Up to `limit` current versions with since <= updated_at <= clock, after the keyset `after`."""
        after_ts, after_id = after if after is not None else (-1, "")
        with self._lock:
            rows = self._conn.execute(
                f"select v.record_id, v.updated_at, v.body {CURRENT}"
                " and (v.updated_at, v.record_id) > (?4, ?5) order by v.updated_at, v.record_id limit ?6",
                (entity, clock, since, after_ts, after_id, limit),
            ).fetchall()
        return [(rid, ts, json.loads(body)) for rid, ts, body in rows]

    def page_offset(self, entity: str, clock: int, since: int, offset: int, limit: int):
        """(rows, total) of the listing ordered by (updated_at, id), rows [offset, offset+limit)."""
        with self._lock:
            gen = self.generation
            tkey = (entity, clock, since, gen)
            total = self._totals.get(tkey)
            if total is None:
                total = self._conn.execute(f"select count(*) {CURRENT}", (entity, clock, since)).fetchone()[0]
                _remember(self._totals, tkey, total)
            resume = self._resume.get((entity, clock, since, gen, offset)) if offset else (-1, "")
            if resume is not None:
                rows = self._conn.execute(
                    f"select v.record_id, v.updated_at, v.body {CURRENT}"
                    " and (v.updated_at, v.record_id) > (?4, ?5) order by v.updated_at, v.record_id limit ?6",
                    (entity, clock, since, resume[0], resume[1], limit),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"select v.record_id, v.updated_at, v.body {CURRENT}"
                    " order by v.updated_at, v.record_id limit ?4 offset ?5",
                    (entity, clock, since, limit, offset),
                ).fetchall()
            if rows:
                _remember(self._resume, (entity, clock, since, gen, offset + len(rows)), (rows[-1][1], rows[-1][0]))
        return [(rid, ts, json.loads(body)) for rid, ts, body in rows], total

    def previous_updated_at(self, entity: str, record_id: str, before: int) -> int | None:
        """updated_at of the record's version before the one published at `before`."""
        with self._lock:
            row = self._conn.execute(
                "select max(updated_at) from versions where entity = ? and record_id = ? and updated_at < ?",
                (entity, record_id, before),
            ).fetchone()
        return row[0]

    def touch(self, entity: str, record_id: str, at: int) -> bool:
        """A live edit: republish the record's current body with updated_at `at` (the clock).

        It moves the record to the end of the (updated_at, id) order, so every row after its
        old position shifts one place towards the start. The stored world is no longer the
        generated one, so the fingerprint is dropped (the next start regenerates).
        """
        with self._lock:
            row = self._conn.execute(
                "select seq, updated_at, body from versions where entity = ? and record_id = ? and updated_at <= ?"
                " order by seq desc limit 1",
                (entity, record_id, at),
            ).fetchone()
            if row is None or row[1] >= at:
                return False
            body = json.loads(row[2])
            if "updated_at" in body:
                body["updated_at"] = bj_iso(at)
            self._conn.execute(
                "insert into versions values (?, ?, ?, ?, ?)",
                (entity, record_id, row[0] + 1, at, json.dumps(body, ensure_ascii=False)),
            )
            self._conn.execute("delete from meta where key = 'fingerprint'")
            self._conn.commit()
            self.generation += 1
        return True

    def close(self) -> None:
        self._conn.close()


def _remember(cache: OrderedDict, key, value, size: int = 512) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
