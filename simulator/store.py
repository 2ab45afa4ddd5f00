"""A disk-backed store of every version the simulated sources ever publish.

The generators stream versions into SQLite in batches, so the served world never has to
fit in memory; pages are answered by index range scans: the latest version of each record
visible at the clock, ordered by (updated_at, id) — keyset cursors for S2/S3, offsets for
S1 (or, with the `unordered` fault, by record id: the primary key's order). Each version
carries `valid_to`, the `updated_at` of the record's next version (or `OPEN` for the
last), so "current at clock c" is a filter on the scanned index entries
(updated_at <= c < valid_to), not a per-row lookup of the record's other versions.

A page of offset `o` resumes from the key that ended the page before it when the listing
has not changed since (clock, filter and live edits equal), so a full offset pass costs a
range scan per page, not an O(offset) skip; a changed listing is re-counted from its
start, which is what makes rows shift between offset pages as in the real system.
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

FORMAT = "versions-v2"  # part of the world's fingerprint: a store in an older layout is rebuilt
OPEN = 2**62  # valid_to of a record's newest version

SCHEMA = """
create table if not exists versions (
    entity text not null,
    record_id text not null,
    seq integer not null,
    updated_at integer not null,
    valid_to integer not null,
    body text not null,
    primary key (entity, record_id, seq)
) without rowid;
create index if not exists versions_by_time on versions (entity, updated_at, record_id, valid_to);
create table if not exists meta (key text primary key, value text not null);
create table if not exists ranks (
    entity text not null,
    updated_at integer not null,
    record_id text not null,
    rnk integer not null,
    primary key (entity, updated_at, record_id)
) without rowid;
"""

# The versions current at clock ?2 with ?3 <= updated_at: the index decides, bodies are read
# only for the rows returned. A keyset page passes max(since, key's updated_at) as ?3: SQLite
# does not start an index range at a row-value bound, so without it every page would scan
# from `since` again (quadratic in the listing's length).
CURRENT = """
    from versions v
    where v.entity = ?1 and v.updated_at <= ?2 and v.updated_at >= ?3 and v.valid_to > ?2
"""
# The same rows for a listing in record-id order (the primary key's order).
BY_ID = """
    from versions v
    where v.entity = ?1 and +v.updated_at <= ?2 and +v.updated_at >= ?3 and v.valid_to > ?2
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
        self._ranked: dict[str, tuple[int, int]] = {}  # entity -> (clock, rows) the ranks table holds

    def is_built_for(self, fingerprint: str) -> bool:
        row = self._conn.execute("select value from meta where key = 'fingerprint'").fetchone()
        return row is not None and row[0] == fingerprint

    def rebuild(self, fingerprint: str, versions: Iterable[Version]) -> int:
        """Store every version; the generators yield each record's versions together, in order."""
        conn = self._conn
        conn.execute("pragma synchronous = off")
        conn.executescript(
            "drop table if exists versions; drop table if exists meta; drop table if exists ranks;" + SCHEMA
        )
        total = 0
        for batch in _batches(_with_valid_to(versions), 20_000):
            conn.executemany("insert into versions values (?, ?, ?, ?, ?, ?)", batch)
            total += len(batch)
        # valid_to was taken from the next version in the stream: that is right only if each
        # record's versions came together, so check that every record has exactly one open version
        records, open_ = conn.execute(
            "select (select count(*) from (select distinct entity, record_id from versions)),"
            " (select count(*) from versions where valid_to = ?)",
            (OPEN,),
        ).fetchone()
        if records != open_:
            raise RuntimeError(f"generator yielded a record's versions apart: {records} records, {open_} open")
        conn.execute("insert into meta values ('fingerprint', ?)", (fingerprint,))
        conn.commit()
        conn.execute("pragma synchronous = full")
        return total

    def page_after(self, entity: str, clock: int, since: int, after: tuple[int, str] | None, limit: int):
        """Up to `limit` current versions (id, updated_at, JSON text) with since <= updated_at <= clock,
        after the keyset `after`."""
        after_ts, after_id = after if after is not None else (-1, "")
        with self._lock:
            rows = self._conn.execute(
                f"select v.record_id, v.updated_at, v.body {CURRENT}"
                " and (v.updated_at, v.record_id) > (?4, ?5) order by v.updated_at, v.record_id limit ?6",
                (entity, clock, max(since, after_ts), after_ts, after_id, limit),
            ).fetchall()
        return rows

    def page_offset(self, entity: str, clock: int, since: int, offset: int, limit: int, by_id: bool = False):
        """(rows, total) of the listing ordered by (updated_at, id) — or by record id alone
        (`by_id`, the `unordered` fault) —, rows [offset, offset+limit)."""
        with self._lock:
            gen = self.generation
            tkey = (entity, clock, since, gen)
            total = self._totals.get(tkey)
            if total is None:
                total = self._count(entity, clock, since, gen)
                _remember(self._totals, tkey, total)
            rkey = (entity, clock, since, gen, by_id)
            resume = self._resume.get((*rkey, offset)) if offset else (-1, "")
            if by_id:
                rows = self._page_by_id(entity, clock, since, offset, limit, resume)
            elif resume is not None:
                rows = self._conn.execute(
                    f"select v.record_id, v.updated_at, v.body {CURRENT}"
                    " and (v.updated_at, v.record_id) > (?4, ?5) order by v.updated_at, v.record_id limit ?6",
                    (entity, clock, max(since, resume[0]), resume[0], resume[1], limit),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"select v.record_id, v.updated_at, v.body {CURRENT}"
                    " order by v.updated_at, v.record_id limit ?4 offset ?5",
                    (entity, clock, since, limit, offset),
                ).fetchall()
            if rows:
                _remember(self._resume, (*rkey, offset + len(rows)), (rows[-1][1], rows[-1][0]))
        return rows, total

    def _page_by_id(self, entity: str, clock: int, since: int, offset: int, limit: int, resume):
        # The primary key (entity, record_id, seq) gives the order; `+` keeps SQLite off the
        # time index, which would sort the whole listing for every page.
        if resume is not None:
            return self._conn.execute(
                f"select v.record_id, v.updated_at, v.body {BY_ID} and v.record_id > ?4 order by v.record_id limit ?5",
                (entity, clock, since, resume[1], limit),
            ).fetchall()
        return self._conn.execute(
            f"select v.record_id, v.updated_at, v.body {BY_ID} order by v.record_id limit ?4 offset ?5",
            (entity, clock, since, limit, offset),
        ).fetchall()

    def entering_before(self, entity: str, clock: int, since: int, before_id: str, pick: float) -> str | None:
        """A record current at the clock but outside the `since` listing (updated_at < since)
        whose id sorts before `before_id`: updating it now makes it enter an id-ordered
        listing before that row. `pick` in [0, 1) chooses among them."""
        with self._lock:
            where = (
                "from versions v where v.entity = ?1 and v.record_id < ?4"
                " and +v.updated_at <= ?2 and +v.updated_at < ?3 and v.valid_to > ?2"
            )
            (n,) = self._conn.execute(f"select count(*) {where}", (entity, clock, since, before_id)).fetchone()
            if not n:
                return None
            row = self._conn.execute(
                f"select v.record_id {where} order by v.record_id limit 1 offset ?5",
                (entity, clock, since, before_id, int(pick * n)),
            ).fetchone()
        return row[0]

    def _count(self, entity: str, clock: int, since: int, gen: int) -> int:
        """How many records the listing (clock, since) has: the offset envelope's `total`.

        A reader that moves `modified_after` forward asks a new total on every page; counting
        is a scan of the rest of the listing, quadratic over a full pass (80 ms a page at a
        million stop-visits). So the listing at the clock is ranked once, on disk, and a
        total is one index seek: rows - rank of the first row at or after `since` + 1.
        Live edits (the `shift` fault) change the listing: then it is counted.
        """
        if gen:
            return self._conn.execute(f"select count(*) {CURRENT}", (entity, clock, since)).fetchone()[0]
        if self._ranked.get(entity, (None,))[0] != clock:
            self._conn.execute("delete from ranks where entity = ?", (entity,))
            self._conn.execute(
                "insert into ranks select entity, updated_at, record_id,"
                " row_number() over (order by updated_at, record_id)"
                f" {CURRENT}",
                (entity, clock, -(2**62)),
            )
            (rows,) = self._conn.execute("select count(*) from ranks where entity = ?", (entity,)).fetchone()
            self._conn.commit()
            self._ranked[entity] = (clock, rows)
        rows = self._ranked[entity][1]
        first = self._conn.execute(
            "select rnk from ranks where entity = ? and updated_at >= ? order by updated_at, record_id limit 1",
            (entity, since),
        ).fetchone()
        return rows - first[0] + 1 if first else 0

    def history(self, entity: str, record_id: str, before: int) -> list[int]:
        """The true updated_at of the record's versions before the one published at `before`,
        oldest first (the record's key range, not the time index)."""
        with self._lock:
            # `order by seq` keeps SQLite on the primary key (the time index would be scanned
            # whole for every record); a live edit's seq is not its place in time, so sort here
            rows = self._conn.execute(
                "select updated_at from versions where entity = ? and record_id = ? and updated_at < ? order by seq",
                (entity, record_id, before),
            ).fetchall()
        return sorted(r[0] for r in rows)

    def touch(self, entity: str, record_id: str, at: int) -> bool:
        """A live edit: republish the record's current body with updated_at `at` (the clock).

        It moves the record to the end of the (updated_at, id) order, so every row after its
        old position shifts one place towards the start (an id-ordered listing keeps its place;
        see `entering_before`). The stored world is no longer the
        generated one, so the fingerprint is dropped (the next start regenerates).
        """
        with self._lock:
            row = self._conn.execute(
                "select seq, updated_at, valid_to, body from versions"
                " where entity = ? and record_id = ? and updated_at <= ? and valid_to > ?",
                (entity, record_id, at, at),
            ).fetchone()
            if row is None or row[1] >= at:
                return False
            seq, _, valid_to, text = row
            body = json.loads(text)
            if "updated_at" in body:
                body["updated_at"] = bj_iso(at)
            (last,) = self._conn.execute(
                "select max(seq) from versions where entity = ? and record_id = ?", (entity, record_id)
            ).fetchone()
            # the edit is current from `at` until the record's next generated version, if any
            self._conn.execute(
                "update versions set valid_to = ? where entity = ? and record_id = ? and seq = ?",
                (at, entity, record_id, seq),
            )
            self._conn.execute(
                "insert into versions values (?, ?, ?, ?, ?, ?)",
                (entity, record_id, last + 1, at, valid_to, json.dumps(body, ensure_ascii=False)),
            )
            self._conn.execute("delete from meta where key = 'fingerprint'")
            self._conn.commit()
            self.generation += 1
        return True

    def close(self) -> None:
        self._conn.close()


def _with_valid_to(versions: Iterable[Version]):
    """Rows for the versions table: each version is valid until its record's next one."""
    prev = None
    for v in versions:
        if prev is not None:
            same = (prev.entity, prev.record_id) == (v.entity, v.record_id)
            yield _row(prev, v.updated_at if same else OPEN)
        prev = v
    if prev is not None:
        yield _row(prev, OPEN)


def _row(v: Version, valid_to: int) -> tuple:
    return (v.entity, v.record_id, v.seq, v.updated_at, valid_to, json.dumps(v.body, ensure_ascii=False))


def _batches(rows, size: int):
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _remember(cache: OrderedDict, key, value, size: int = 512) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
