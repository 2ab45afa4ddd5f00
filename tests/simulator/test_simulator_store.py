"""The simulator's version store serves exactly the latest version of each record visible
at the clock, whether read by keyset or by offset, and a live edit (the `shift` fault) is
current from its instant until the record's next generated version.

The expected listings are computed straight from the generators with `orders.visible`,
a separate code path from the store's `valid_to` index filter.
"""

from __future__ import annotations

import json

import pytest

from simulator.__main__ import _fingerprint, all_versions
from simulator.orders import visible
from simulator.store import VersionStore
from simulator.world import WorldConfig, parse_ts

CFG = WorldConfig(seed=11, scale=0.05)
CLOCKS = ["2020-09-15T12:00:00+08:00", "2021-03-01T00:00:00+08:00", "2021-12-31T23:59:59+08:00"]
ENTITIES = ["orders", "stop_visits", "exhibition_stops", "rural_centres", "roadshows"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = VersionStore(tmp_path_factory.mktemp("store") / "world.sqlite")
    s.rebuild(_fingerprint(CFG), all_versions(CFG))
    yield s
    s.close()


def expected(entity: str, clock: int, since: int = -(2**62)) -> list[tuple[str, int, dict]]:
    current = visible((v for v in all_versions(CFG) if v.entity == entity), clock)
    rows = [(v.record_id, v.updated_at, v.body) for v in current.values() if v.updated_at >= since]
    return sorted(rows, key=lambda r: (r[1], r[0]))


def by_keyset(store: VersionStore, entity: str, clock: int, since: int, limit: int):
    out, after = [], None
    while rows := store.page_after(entity, clock, since, after, limit):
        out += rows
        after = (rows[-1][1], rows[-1][0])
    return [(rid, ts, json.loads(text)) for rid, ts, text in out]


def by_offset(store: VersionStore, entity: str, clock: int, since: int, limit: int):
    out, offset = [], 0
    while True:
        rows, total = store.page_offset(entity, clock, since, offset, limit)
        if not rows:
            assert total == len(out)
            return [(rid, ts, json.loads(text)) for rid, ts, text in out]
        out += rows
        offset += len(rows)


@pytest.mark.parametrize("clock", [pytest.param(c, id=c[:10]) for c in CLOCKS])
@pytest.mark.parametrize("entity", ENTITIES)
def test_a_full_listing_is_the_latest_visible_version_of_every_record(store, entity, clock):
    # GIVEN a generated world and a clock position
    at = parse_ts(clock)
    # WHEN the whole listing is read page by page, by keyset and by offset
    # THEN both equal the generators' latest visible version of each record, in (updated_at, id) order
    want = expected(entity, at)
    assert want, "the world has records of this entity by then"
    assert by_keyset(store, entity, at, -(2**62), 37) == want
    assert by_offset(store, entity, at, -(2**62), 37) == want


def test_an_updated_since_filter_keeps_only_records_changed_since(store):
    # GIVEN the end clock and a filter in the middle of the period
    at, since = parse_ts(CLOCKS[2]), parse_ts("2021-06-01T00:00:00+08:00")
    # WHEN read with the filter
    # THEN only records whose current version is at or after it are served
    want = expected("orders", at, since)
    assert 0 < len(want) < len(expected("orders", at))
    assert by_keyset(store, "orders", at, since, 50) == want
    # AND an offset listing under the filter has the same rows, and its `total` counts them
    visits = expected("stop_visits", at, since)
    assert 0 < len(visits) < len(expected("stop_visits", at))
    assert by_offset(store, "stop_visits", at, since, 50) == visits


def test_a_live_edit_is_current_until_the_records_next_generated_version(tmp_path):
    # GIVEN an order with a generated version after the edit instant
    s = VersionStore(tmp_path / "world.sqlite")
    s.rebuild(_fingerprint(CFG), all_versions(CFG))
    versions = [v for v in all_versions(CFG) if v.entity == "orders"]
    rid = next(v.record_id for v in versions if v.seq == 2)
    first, later = [v for v in versions if v.record_id == rid][:2]
    edit_at = (first.updated_at + later.updated_at) // 2
    # WHEN the record is edited live at that instant
    assert s.touch("orders", rid, edit_at)
    # THEN at the edit the edited copy is the current one, moved to its new time
    rows = [r for r in by_keyset(s, "orders", edit_at, -(2**62), 100) if r[0] == rid]
    assert [(r[1], r[2]["status"]) for r in rows] == [(edit_at, first.body["status"])]
    # AND once the next generated version is published, that one is current again
    rows = [r for r in by_keyset(s, "orders", later.updated_at, -(2**62), 100) if r[0] == rid]
    assert [(r[1], r[2]) for r in rows] == [(later.updated_at, later.body)]
    s.close()
