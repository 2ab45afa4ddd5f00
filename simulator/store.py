"""A disk-backed store of every version the simulated sources ever publish.

The generators stream versions into SQLite in batches, so the served world never has to
fit in memory; pages are answered by index range scans: the latest version of each record
visible at the clock, ordered by (updated_at, id) for keyset cursors.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from simulator.orders import Version

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


class VersionStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._conn.executescript(SCHEMA)

    def is_built_for(self, fingerprint: str) -> bool:
        row = self._conn.execute("select value from meta where key = 'fingerprint'").fetchone()
        return row is not None and row[0] == fingerprint

    def rebuild(self, fingerprint: str, versions: Iterable[Version]) -> int:
        conn = self._conn
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
        return total

    def page_after(self, entity: str, clock: int, since: int, after: tuple[int, str] | None, limit: int):
        """Up to `limit` current versions with since <= updated_at <= clock, after the keyset `after`."""
        after_ts, after_id = after if after is not None else (-1, "")
        rows = self._conn.execute(
            """
            select v.record_id, v.updated_at, v.body from versions v
            where v.entity = ?1 and v.updated_at <= ?2 and v.updated_at >= ?3
              and (v.updated_at, v.record_id) > (?4, ?5)
              and v.seq = (select max(w.seq) from versions w
                           where w.entity = v.entity and w.record_id = v.record_id and w.updated_at <= ?2)
            order by v.updated_at, v.record_id
            limit ?6
            """,
            (entity, clock, since, after_ts, after_id, limit),
        ).fetchall()
        return [(rid, ts, json.loads(body)) for rid, ts, body in rows]

    def close(self) -> None:
        self._conn.close()
