"""Incremental extraction of an HTTP endpoint into one landed run.

The run asks for everything updated since the stored watermark minus an overlap window
(so versions that share a timestamp with the watermark, or arrive late, are seen again;
the load drops exact repeats), reads every page to the proven end (`extract/pagination.py`)
and lands each page as it came, doing in Python only what must happen before anything is
written or what the reader needs: personal data is dropped, fields the contract does not
name are moved into `_extra` (and reported as schema drift), each record gets its `_seq`,
and `updated_at` is parsed for the watermark. Everything else — required fields, exact
types, a parseable `updated_at`, the content hash that makes a version new — is decided by
the load in DuckDB (`warehouse/raw_load.py`), which quarantines a bad record with its
column, value and reason. It never touches the warehouse.

Watermarks never run ahead of the present. A record stamped after the run's present —
the later of its data interval end and the moment it asks the source — plus
CLOCK_SKEW_TOLERANCE comes from a clock running ahead: it is landed and loaded like any
other, counted in the manifest as clock skew (the gate reports it), and left out of the
new watermark, so the next run still asks for everything changed since the last stamp it
can trust. A stored watermark that is itself in the future (written before this rule) is
not trusted either: the run reads from the start and the load repairs it. The watermark is
the newest trusted stamp received, whether or not the load then quarantines that record:
it was received and set aside with a reason, and asking for it again brings the same record.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from extract import redact
from extract.beijing_time import iso, newest_stamp, parse_ts
from extract.http_client import ApiClient
from extract.landing import LandingWriter, RunManifest, failpoint
from extract.pagination import cursor_pages, offset_pages
from extract.sources import Endpoint

log = logging.getLogger(__name__)
DEFAULT_OVERLAP = timedelta(hours=1)
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)
PAGE_LIMIT = 500
SKEW_EXAMPLES = 5
PREFETCH_PAGES = 2


@dataclass
class PageStamps:
    """What a prepared page tells the watermark: its newest trusted `updated_at`, the
    records stamped beyond the run's present (clock skew), the unknown fields it carried."""

    newest: datetime | None = None
    skewed: list[dict] = field(default_factory=list)
    new_fields: set[str] = field(default_factory=set)
    personal: set[str] = field(default_factory=set)  # unknown fields dropped as personal data


def _holds_personal(value) -> bool:
    if isinstance(value, str):
        return redact.has_personal_pattern(value)
    if isinstance(value, dict | list):
        return redact.has_personal_pattern(json.dumps(value, ensure_ascii=False))
    return isinstance(value, int) and not isinstance(value, bool) and redact.has_personal_pattern(str(value))


def prepare(ep: Endpoint, records: list[dict], first_seq: int, bound: datetime) -> PageStamps:
    """Turn a page of records into landing rows, in place (no second dict per record):
    personal fields dropped, fields the contract does not name moved into `_extra`, `_seq`
    numbered from `first_seq`. An unknown field that is personal data by its name (a
    renamed phone field) or holds a phone number or e-mail address is dropped too, and only
    its name is reported. A stamp that does not parse is left to the load, which
    quarantines its record; it never moves the watermark."""
    personal, named = ep.personal, frozenset(ep.fields)
    out = PageStamps()
    for seq, rec in enumerate(records, first_seq):
        for name in personal:
            rec.pop(name, None)
        if not named.issuperset(rec):  # schema drift: rare, so the common case costs one check
            unknown = [k for k in rec if k not in named]
            extra = {}
            for k in unknown:
                value = rec.pop(k)
                if redact.personal_field(k) or _holds_personal(value):
                    out.personal.add(k)
                else:
                    extra[k] = value
            if extra:
                rec["_extra"] = extra
            out.new_fields.update(unknown)
        rec["_seq"] = seq
    out.newest, ahead = newest_stamp([rec.get("updated_at") for rec in records], bound)
    out.skewed = [records[i] for i in ahead]  # a clock running ahead: landed, never the watermark
    return out


def _prefetched(pages: Iterator[list[dict]], depth: int = PREFETCH_PAGES) -> Iterator[list[dict]]:
    """Iterate `pages` with the next requests already under way in a helper thread.

    Requesting page k+1 needs only page k's cursor (or newest `updated_at`), so the fetch
    thread — mostly waiting on the socket, which releases the GIL — keeps up to `depth`
    pages ahead while this thread normalises and lands. Errors reach the caller in order;
    a consumer that stops early stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    worker = threading.Thread(target=run, name="extract-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


PAGERS = {"cursor": cursor_pages, "offset": offset_pages}


def present(interval: tuple[str | None, str | None] | None) -> datetime:
    """The run's present: the later of its data interval end and now."""
    now = datetime.now(UTC)
    end = interval[1] if interval else None
    return max(now, parse_ts(end)) if end else now


def extract_endpoint(
    client: ApiClient,
    ep: Endpoint,
    landing_root: Path,
    run_key: str,
    watermark: str | None,
    interval: tuple[str | None, str | None] | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    limit: int = PAGE_LIMIT,
) -> RunManifest:
    """Land one incremental run of an HTTP endpoint; returns its manifest.

    A run key that already landed is reused as it is (a retried or backfilled task gets
    exactly what that run received the first time).
    """
    writer = LandingWriter(landing_root, ep.source, ep.name, run_key, decoded=True)
    if (landed := writer.landed()) is not None:
        log.info("%s/%s: run %s already landed (%s rows); reusing it", ep.source, ep.name, run_key, landed.row_count)
        return landed
    started = time.monotonic()
    bound = present(interval) + CLOCK_SKEW_TOLERANCE
    if watermark and parse_ts(watermark) > bound:
        log.warning(
            "%s/%s: the stored watermark %s is in the future; reading from the start", ep.source, ep.name, watermark
        )
        watermark = None
    since = iso(parse_ts(watermark) - overlap) if watermark else None
    manifest = RunManifest(ep.source, ep.name, writer.run_key, interval=list(interval) if interval else None)
    manifest.requested_since, manifest.watermark_before, manifest.present = (
        since,
        watermark,
        iso(bound - CLOCK_SKEW_TOLERANCE),
    )
    max_seen: datetime | None = parse_ts(watermark) if watermark else None
    pages = records = 0
    drift: set[str] = set()
    dropped: set[str] = set()
    with writer:
        for items in _prefetched(PAGERS[ep.pagination](client, ep, since, limit, bound)):
            pages += 1
            stamps = prepare(ep, items, records + 1, bound)
            records += len(items)
            drift |= stamps.new_fields
            dropped |= stamps.personal
            if stamps.newest is not None and (max_seen is None or stamps.newest > max_seen):
                max_seen = stamps.newest
            manifest.clock_skewed += len(stamps.skewed)
            for rec in stamps.skewed[: SKEW_EXAMPLES - len(manifest.clock_skew_examples)]:
                manifest.clock_skew_examples.append(
                    {**{k: rec.get(k) for k in ep.key}, "updated_at": rec["updated_at"]}
                )
            writer.write_rows(ep.name, items)
            failpoint("mid_extract")
        manifest.watermark_after = iso(max_seen) if max_seen else None
        manifest.pages, manifest.records_received, manifest.new_fields = pages, records, sorted(drift)
        manifest.personal_fields_dropped = sorted(dropped)
        manifest.retries, manifest.bytes = client.stats.retries, client.stats.bytes
        manifest.duration_s = round(time.monotonic() - started, 3)
        writer.commit(manifest)
    _log_landed(manifest)
    return manifest


def _log_landed(m: RunManifest) -> None:
    log.info(
        "%s/%s: %d pages, %d records, %d landed, %d retries, %d bytes, %.1fs; new fields: %s",
        m.source,
        m.endpoint,
        m.pages,
        m.records_received,
        m.row_count,
        m.retries,
        m.bytes,
        m.duration_s,
        ", ".join(m.new_fields) or "none",
    )
    if m.new_fields:
        log.warning("%s/%s: schema drift, new fields kept in _extra: %s", m.source, m.endpoint, m.new_fields)
    if m.personal_fields_dropped:
        log.warning(
            "%s/%s: fields dropped as personal data (by name, or holding a phone or e-mail): %s",
            m.source,
            m.endpoint,
            m.personal_fields_dropped,
        )
    if m.clock_skewed:
        log.warning(
            "%s/%s: %d records stamped after the run's present (%s), e.g. %s: the source's clock runs ahead; "
            "loaded, but left out of the watermark",
            m.source,
            m.endpoint,
            m.clock_skewed,
            m.present,
            m.clock_skew_examples[:2],
        )
