"""Incremental extraction of an HTTP endpoint into one landed run.

The run asks for everything updated since the stored watermark minus an overlap window
(so versions that share a timestamp with the watermark, or arrive late, are seen again;
the load drops exact repeats), reads every page to the proven end (`extract/pagination.py`),
normalises every record (personal data dropped, unknown fields kept in `_extra`, records
missing a required field quarantined with a reason) and lands it. It never touches the
warehouse.

Watermarks never run ahead of the present. A record stamped after the run's present —
the later of its data interval end and the moment it asks the source — plus
CLOCK_SKEW_TOLERANCE comes from a clock running ahead: it is landed and loaded like any
other, counted in the manifest as clock skew (the gate reports it), and left out of the
new watermark, so the next run still asks for everything changed since the last stamp it
can trust. A stored watermark that is itself in the future (written before this rule) is
not trusted either: the run reads from the start and the load repairs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from extract.beijing import iso, parse_ts
from extract.http_client import ApiClient
from extract.landing import LandingWriter, RunManifest, failpoint
from extract.pagination import cursor_pages, offset_pages
from extract.sources import Endpoint

log = logging.getLogger(__name__)
DEFAULT_OVERLAP = timedelta(hours=1)
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)
PAGE_LIMIT = 500
SKEW_EXAMPLES = 5

# exact types: JSON numbers decode to int, strings to str; a bool is not a bigint
_PY_TYPES = {"bigint": int, "varchar": str}
# one encoder each, built once (json.dumps with options builds a new encoder per call)
_canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode
PREFETCH_PAGES = 2


def normalise(ep: Endpoint, record: dict) -> tuple[dict | None, dict | None]:
    """(row for the raw layer, None) or (None, quarantine entry)."""
    row, quarantined, _ = _normalise(ep, record)
    return row, quarantined


def _normalise(ep: Endpoint, record: dict) -> tuple[dict | None, dict | None, datetime | None]:
    """normalise() plus the record's parsed `updated_at` (the watermark needs it)."""
    personal = ep.personal
    rec = {k: v for k, v in record.items() if k not in personal} if personal else dict(record)
    for name in ep.required:
        if rec.get(name) in (None, ""):
            return None, _quarantined(ep, rec, name, None, "missing required field"), None
    for name, typ in ep.fields.items():
        value = rec.get(name)
        if value is not None and type(value) is not _PY_TYPES[typ]:
            return None, _quarantined(ep, rec, name, repr(value)[:200], f"expected {typ}"), None
    try:
        ts = parse_ts(rec["updated_at"])
    except (TypeError, ValueError, AttributeError):
        value = str(rec["updated_at"])[:200]
        return None, _quarantined(ep, rec, "updated_at", value, "unparseable timestamp"), None
    row = {name: rec.get(name) for name in ep.fields}
    extra = {k: v for k, v in rec.items() if k not in ep.fields}
    row["_extra"] = extra or None
    row["_record_hash"] = hashlib.sha256(_canonical(rec).encode()).hexdigest()
    return row, None, ts


def _quarantined(ep: Endpoint, record: dict, column: str, value: str | None, reason: str) -> dict:
    return {"table": ep.name, "column": column, "value": value, "reason": reason, "record": record}


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
    writer = LandingWriter(landing_root, ep.source, ep.name, run_key)
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
    bad_seen: set[str] = set()  # a bad record read twice in one run (pages re-read) is set aside once
    with writer:
        for items in _prefetched(PAGERS[ep.pagination](client, ep, since, limit, bound)):
            pages += 1
            rows, bad = [], []
            for record in items:
                records += 1
                row, q, ts = _normalise(ep, record)
                if q is not None:
                    fingerprint = _canonical(q["record"])
                    if fingerprint not in bad_seen:
                        bad_seen.add(fingerprint)
                        bad.append(q)
                    continue
                row["_seq"] = records
                rows.append(row)
                if row["_extra"]:
                    drift.update(row["_extra"])
                if ts > bound:  # a clock running ahead: landed, never the watermark
                    manifest.clock_skewed += 1
                    if len(manifest.clock_skew_examples) < SKEW_EXAMPLES:
                        manifest.clock_skew_examples.append(
                            {**{k: row[k] for k in ep.key}, "updated_at": row["updated_at"]}
                        )
                elif max_seen is None or ts > max_seen:
                    max_seen = ts
            writer.write_rows(ep.name, rows)
            writer.write_quarantine(bad)
            failpoint("mid_extract")
        manifest.watermark_after = iso(max_seen) if max_seen else None
        manifest.pages, manifest.records_received, manifest.new_fields = pages, records, sorted(drift)
        manifest.retries, manifest.bytes = client.stats.retries, client.stats.bytes
        manifest.duration_s = round(time.monotonic() - started, 3)
        writer.commit(manifest)
    _log_landed(manifest)
    return manifest


def _log_landed(m: RunManifest) -> None:
    log.info(
        "%s/%s: %d pages, %d records, %d landed, %d quarantined, %d retries, %d bytes, %.1fs; new fields: %s",
        m.source,
        m.endpoint,
        m.pages,
        m.records_received,
        m.row_count,
        m.quarantined,
        m.retries,
        m.bytes,
        m.duration_s,
        ", ".join(m.new_fields) or "none",
    )
    if m.new_fields:
        log.warning("%s/%s: schema drift, new fields kept in _extra: %s", m.source, m.endpoint, m.new_fields)
    if m.quarantined:
        log.warning("%s/%s: %d records quarantined (see meta.quarantine)", m.source, m.endpoint, m.quarantined)
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
