"""Reading a listing to its end, and proving it was read to its end.

sources.md promises little: a cursor API gives `next_cursor` until the last page; an
offset API gives `items`, the `page_size` it used (a server may cap what was asked) and
`total`, the number of items matching the filter when the page was served. It promises no
order. So every reader here reconciles what it received with what the server said it holds,
and either reads on until complete or raises `SourceError` naming the endpoint and the
counts — it never ends short silently.

- **Cursor** (S2, S3): follow `next_cursor`; a cursor the server already gave (a loop) or
  a long run of empty pages that still say "more" is an error, within a bound.
- **Offset** (S1), fast path: over a list sorted by `updated_at`, `modified_after` works as
  a keyset — after each full page the filter moves up to one second below the newest
  `updated_at` seen and reading restarts at page 1, so a row that shifts between pages
  (it was updated while the list was read) is never skipped. The reader checks the order
  it relies on as it goes, by the server's counts (served stamps may differ from the ones
  the server filters and sorts on — a late write stamped by the client's clock): the rows
  that fell out between two filters (`total` before minus `total` after) were all on the
  pages read, no page holds rows beyond `total` (a server that ignores `page`), and the
  last page is short only where `total` says the list ends. Those checks fail early; the
  proof is at the end: the read received as many distinct records as match the run's
  filter now (records never leave it, so that is all of them). Stamps beyond the run's
  present (a source clock running ahead) never move the filter.
- **Offset**, complete path: when any of those checks fails the listing is not (or not
  visibly) in that order, and the reader reads the whole filter again page by page, pass
  after pass, until one proves complete (see `_Pass.proves`) — or fails after MAX_PASSES.
  Pages a server caps without saying so are detected by `total` and re-read at the size
  it really serves.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterator
from datetime import datetime, timedelta

from extract.beijing_time import iso, newest_stamp, parse_ts
from extract.http_client import ApiClient, SourceError
from extract.sources import Endpoint

log = logging.getLogger(__name__)
MAX_EMPTY_PAGES = 20
MAX_PASSES = 5


def _list(body: dict, key: str, ep: Endpoint, params: dict) -> list:
    items = body.get(key)
    if not isinstance(items, list):
        raise SourceError(
            f"{ep.source}{ep.path} {params}: the response has no list {key!r} (its keys: {sorted(body)[:10]})"
        )
    return items


def cursor_pages(client: ApiClient, ep: Endpoint, since: str | None, limit: int, bound: datetime) -> Iterator[list]:
    """Follow `next_cursor` to the end (S2, S3)."""
    cursor, seen, empty = None, set(), 0
    while True:
        params: dict = {"limit": limit}
        if since:
            params[ep.since_param] = since
        if cursor:
            params["cursor"] = cursor
        body = client.get_json(ep.path, params)
        items = _list(body, "data", ep, params)
        yield items
        cursor = body.get("next_cursor")
        if not cursor:
            return
        if cursor in seen:
            raise SourceError(
                f"{ep.source}{ep.path}: the server gave the cursor {cursor!r} a second time; stopping "
                "rather than reading the same pages in a loop"
            )
        seen.add(cursor)
        empty = empty + 1 if not items else 0
        if empty >= MAX_EMPTY_PAGES:
            raise SourceError(
                f"{ep.source}{ep.path}: {empty} empty pages in a row that all promise more (next_cursor); "
                "stopping rather than paging forever"
            )


class NotInOrder(Exception):
    """The listing is not visibly sorted by `updated_at`: the keyset fast path cannot be trusted."""


class _Page:
    def __init__(self, body: dict, ep: Endpoint, params: dict, asked: int, bound: datetime):
        self.items = _list(body, "items", ep, params)
        size, total = body.get("page_size", asked), body.get("total")
        if not isinstance(size, int) or size < 1 or not isinstance(total, int) or total < 0:
            raise SourceError(
                f"{ep.source}{ep.path} {params}: the envelope needs an integer page_size and total "
                f"(got page_size={size!r}, total={total!r})"
            )
        if len(self.items) > size:
            raise SourceError(f"{ep.source}{ep.path} {params}: {len(self.items)} items on a page of {size}")
        self.size, self.total = size, total
        # the newest trusted stamp (a record whose stamp does not parse is quarantined by the
        # load and is not part of any ordering)
        self.newest = newest_stamp([i.get("updated_at") if type(i) is dict else None for i in self.items], bound)[0]

    @property
    def full(self) -> bool:
        return len(self.items) == self.size


def offset_pages(client: ApiClient, ep: Endpoint, since: str | None, limit: int, bound: datetime) -> Iterator[list]:
    """Every item matching `modified_after=since` (S1), by the fast path while the listing
    proves sorted, else by complete passes. Items may come more than once (the load keeps one)."""
    reader = _OffsetReader(client, ep, since, limit, bound)
    try:
        yield from reader.keyset()
    except NotInOrder as why:
        log.warning("%s/%s: %s; reading the listing again in complete passes", ep.source, ep.name, why)
        yield from reader.passes()


class _OffsetReader:
    def __init__(self, client: ApiClient, ep: Endpoint, since: str | None, limit: int, bound: datetime):
        self.client, self.ep, self.since, self.limit, self.bound = client, ep, since, limit, bound

    def _get(self, page: int, lower: str | None, size: int) -> _Page:
        params: dict = {"page": page, "page_size": size}
        if lower:
            params[self.ep.since_param] = lower
        return _Page(self.client.get_json(self.ep.path, params), self.ep, params, size, self.bound)

    def keyset(self) -> Iterator[list]:
        lower, page, read = self.since, 1, 0
        before: tuple[int, int] | None = None  # (total, rows read) under the previous filter
        received = _Distinct()
        while True:
            p = self._get(page, lower, self.limit)
            floor = parse_ts(lower) if lower else None
            if page == 1 and before is not None:
                # Over a list sorted by the filtered stamp, every row that left the filter when
                # it moved up lay on the pages already read; more than that means rows were
                # skipped (the list is in another order).
                fell_out = before[0] - p.total
                if fell_out > before[1]:
                    raise NotInOrder(
                        f"{fell_out} rows left the filter when it moved up to {lower}, but only "
                        f"{before[1]} were on the pages read"
                    )
            received.add_all(_identity(self.ep, item) for item in p.items)
            yield p.items
            read += len(p.items)
            if (page - 1) * p.size + len(p.items) > p.total:  # e.g. a server that ignores `page`
                raise NotInOrder(f"page {page} holds rows beyond the {p.total} the server says it holds")
            if not p.full:
                if (page - 1) * p.size + len(p.items) < p.total:
                    raise NotInOrder(f"page {page} ended the list at {len(p.items)} rows, but total is {p.total}")
                self._prove_complete(received, p.total if lower == self.since else None)
                return
            newest = p.newest
            if newest is not None and (floor is None or newest - timedelta(seconds=1) > floor):
                before, read = (p.total, read), 0
                lower, page = iso(newest - timedelta(seconds=1)), 1
            else:  # a full page inside one second: step through that second's pages
                page += 1

    def _prove_complete(self, received: _Distinct, total: int | None) -> None:
        """The end of the fast path: every record that matches the run's filter now was
        received. Records never leave that filter (a change only moves `updated_at` up), so
        receiving as many distinct records as it holds means receiving all of them — whatever
        order the listing was in and whatever stamps were served. One small request asks the
        count when the last page was read under a moved filter."""
        if total is None:
            total = self._get(1, self.since, 1).total
        distinct = received.count()
        if distinct < total:
            raise NotInOrder(f"the read received {distinct} distinct records, but {total} match the filter")

    def passes(self) -> Iterator[list]:
        """Whole reads of the fixed filter until one proves complete (see `_Pass.proves`)."""
        size, received, total, previous = self.limit, set(), 0, None
        for number in range(1, MAX_PASSES + 1):
            page, empty, this = 1, 0, _Pass()
            while True:
                p = self._get(page, self.since, size)
                total = p.total
                # before the yield: the consumer lands the items in place
                this.read(self.ep, p, received, (page - 1) * p.size)
                yield p.items
                if (page - 1) * p.size + len(p.items) >= p.total:  # the last row the server holds
                    break
                if page == 1 and 0 < len(p.items) < p.size:
                    # a first page short of the list: the server caps pages without saying so
                    log.warning(
                        "%s/%s: pages hold %d rows, not %d; reading at that size", *self._n(), len(p.items), p.size
                    )
                    size, this = len(p.items), _Pass()
                    continue
                empty = empty + 1 if not p.items else 0
                if empty >= MAX_EMPTY_PAGES:
                    raise SourceError(
                        f"{self.ep.source}{self.ep.path}: {empty} empty pages in a row before the {p.total} rows "
                        "the server says it holds; stopping"
                    )
                page += 1
            if len(received) >= total:
                return
            counts = (*self._n(), number, len(received), total)
            if this.proves(previous):
                log.warning(
                    "%s/%s: pass %d received %d of the %d rows the server holds: the rest entered the listing "
                    "while it was read, and the next extract asks for them",
                    *counts,
                )
                return
            log.warning(
                "%s/%s: pass %d received %d of the %d rows the server holds (%d changed while read)",
                *counts,
                this.changed,
            )
            previous = this
        raise SourceError(
            f"{self.ep.source}{self.ep.path}: {MAX_PASSES} complete reads of the listing received "
            f"{len(received)} distinct records, but the server says it holds {total}; refusing to end short"
        )

    def _n(self) -> tuple[str, str]:
        return self.ep.source, self.ep.name


class _Pass:
    """One whole read of the listing: each record's content as first read (in the order first
    read), how many records it read again changed, and `total` when it began."""

    def __init__(self):
        self.contents: dict[tuple, str] = {}
        self.changed = 0
        self.start_total: int | None = None
        self.places: dict[tuple, int] = {}  # where in the list each record was first read
        self.displaced = False  # a record read again further down than newcomers can explain

    def read(self, ep: Endpoint, p: _Page, received: set, start: int) -> None:
        """Record one page that begins at row `start` of the list."""
        self.start_total = p.total if self.start_total is None else self.start_total
        grown = p.total - self.start_total
        for at, item in enumerate(p.items, start):
            key, content = _identity(ep, item), repr(sorted(item.items()))
            self.changed += self.contents.setdefault(key, content) != content
            first = self.places.setdefault(key, at)
            # In a stable order only the records that entered since can push one down, so a
            # record read again lies at most that many rows below where it was first read;
            # further means the server served another page than the one asked (it ignores
            # the page number) or reorders.
            self.displaced = self.displaced or at - first > grown
            received.add(key)

    def proves(self, previous: _Pass | None) -> bool:
        """A pass that received fewer distinct records than the server holds at its end still
        received every record that was there when it began — the rest entered while it read
        (pushing others down, read twice) and the next extract asks for them — when nothing
        can have moved up the list and pushed an unread record behind the reader: no record
        changed while it read, it read at least as many distinct records as the listing held
        when it began, and the order is visibly stable (every record of the previous pass was
        read again, in the same order). A listing served in no stable order cannot prove
        this by counts (a newcomer can stand in for a record it skipped), and is read again;
        nor can a pass that read a record again further down than the newcomers can have
        pushed it (a server that serves page 1 whatever page is asked)."""
        if previous is None or self.changed or self.displaced or len(self.contents) < (self.start_total or 0):
            return False
        at = {key: i for i, key in enumerate(self.contents)}
        places = [at.get(key) for key in previous.contents]
        return None not in places and all(a < b for a, b in zip(places, places[1:], strict=False))


class _Distinct:
    """How many distinct records a read received, in 8 bytes a record: each identity's 64-bit
    hash in an array, counted once at the end (a set of the identities themselves held ~115
    bytes a record: 740 MB for SF300's 5.2 M records). Two identities that share a hash count
    once, so the count can only come out short: the fast path is then not trusted
    (`NotInOrder`) and the listing is read again in complete passes, which count exact
    identities — never a read that ends short silently."""

    def __init__(self) -> None:
        self._hashes = array("q")

    def add_all(self, keys: Iterator[tuple]) -> None:
        self._hashes.extend(hash(key) for key in keys)

    def count(self) -> int:
        """The distinct hashes: sorted in place (no copy of the array), then the changes counted."""
        if not self._hashes:
            return 0
        import numpy as np

        hashes = np.frombuffer(self._hashes, dtype=np.int64)
        hashes.sort()
        distinct = int(np.count_nonzero(hashes[1:] != hashes[:-1])) + 1
        del hashes  # the array may grow again once no view holds its buffer
        return distinct


def _identity(ep: Endpoint, item: dict) -> tuple:
    key = tuple(item.get(k) for k in ep.key)
    return key if None not in key else (repr(sorted(item.items())),)
