"""The simulator's faults for issue 13 do what they say over real HTTP: a capped page size
(echoed by offset APIs, with cursors that go on), a listing ordered by id instead of time,
a clock that runs 30 years ahead for some versions, versions of one record that share a
timestamp, and dates typed a year late. Expected values come from the generators (what
the world holds) and the faults' public predicates (which records carry a fault)."""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

import pytest
import requests

from simulator import orders, scipop
from simulator.faults import SKEW_YEARS, skewed, stamped_by_date_only, tied_to_previous, typo_year
from simulator.orders import visible
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, bj_iso, parse_ts

SEED, SCALE = 13, 0.2
CFG = WorldConfig(SEED, SCALE)
END = "2021-12-31T23:59:59+08:00"
FAULTS = [
    "scipop_platform:page_cap=37,unordered=1,typo_year=0.2",
    "kechuang_orders:page_cap=37,ties=0.6,skew=0.05,typo_year=0.1",
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SimulatorProcess(tmp_path_factory.mktemp("robust"), seed=SEED, scale=SCALE, faults=FAULTS) as s:
        yield s


def get(sim, source: str, path: str, **params) -> dict:
    src = sim.source(source)
    r = requests.get(
        src["base_url"] + path, params=params, headers={"Authorization": f"Bearer {src['token']}"}, timeout=60
    )
    r.raise_for_status()
    return r.json()


def cursor_pages(sim, path: str, limit: int, **params) -> list[dict]:
    """Every page of an S3 listing, following next_cursor to its end."""
    pages, cursor = [], None
    while True:
        body = get(sim, "kechuang_orders", path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(body)
        cursor = body["next_cursor"]
        if not cursor:
            return pages


def offset_pages(sim, path: str, size: int, **params) -> list[dict]:
    """Every page of an S1 listing, read until the items add up to `total` (not until a short page)."""
    pages, got, page = [], 0, 1
    while True:
        body = get(sim, "scipop_platform", path, page=page, page_size=size, **params)
        pages.append(body)
        got += len(body["items"])
        if got >= body["total"] or not body["items"]:
            return pages
        page += 1


def latest(versions, clock: str) -> dict:
    return {k: v.body for k, v in visible(versions, parse_ts(clock)).items()}


def versions_by_record(versions) -> dict[str, list]:
    return {rid: list(g) for rid, g in groupby(versions, key=lambda v: v.record_id)}


def test_a_capped_offset_page_is_short_echoes_the_size_used_and_keeps_the_true_total(sim):
    # GIVEN S1 capped at 37 items a page, at the end of the world
    sim.set_clock(END)
    want = latest(scipop.visit_versions(CFG), END)
    # WHEN a client asks for pages of 100
    pages = offset_pages(sim, "/api/v1/stop-visits", 100)
    # THEN every page but the last holds 37 items and says so; total counts the whole listing
    assert len(pages) > 3
    assert all(len(p["items"]) == 37 and p["page_size"] == 37 for p in pages[:-1])
    assert {p["total"] for p in pages} == {len(want)}
    # AND page p holds rows [(p-1)*37, p*37): reading on to `total` yields every record once
    ids = [f"{i['stop_id']}/{(i['visit_date'])}" for p in pages for i in p["items"]]
    assert len(ids) == len(set(ids)) == len(want)


def test_a_capped_cursor_page_is_short_but_still_gives_a_next_cursor_until_the_end(sim):
    # GIVEN S3 capped at 37 items a page
    sim.set_clock(END)
    want = latest(orders.order_versions(CFG), END)
    # WHEN a client asks for pages of 100 and follows next_cursor
    pages = cursor_pages(sim, "/v1/orders", 100)
    # THEN the pages are 37 long, each full page names a next cursor, and the listing is complete
    assert all(len(p["data"]) == 37 and p["next_cursor"] for p in pages[:-1])
    assert len(pages[-1]["data"]) <= 37 and pages[-1]["next_cursor"] is None
    ids = [o["order_id"] for p in pages for o in p["data"]]
    assert len(ids) == len(set(ids)) == len(want)


def test_an_unordered_offset_listing_is_sorted_by_id_not_time_and_complete(sim):
    # GIVEN S1 with the unordered fault
    sim.set_clock(END)
    since = "2021-03-01T00:00:00+08:00"
    for params, want in (
        ({}, latest(scipop.centre_versions(CFG), END)),
        (
            {"modified_after": since},
            {k: v for k, v in latest(scipop.centre_versions(CFG), END).items() if v["updated_at"] >= since},
        ),
    ):
        # WHEN the rural-centre registry is read page by page (with and without a filter)
        pages = offset_pages(sim, "/api/v1/rural-centres", 25, **params)
        items = [i for p in pages for i in p["items"]]
        stamps = [datetime.fromisoformat(i["updated_at"]) for i in items]
        # THEN the listing is in id order, its updated_at goes back and forth, and it is complete
        assert [i["centre_id"] for i in items] == sorted(want)
        assert stamps != sorted(stamps)
        assert {p["total"] for p in pages} == {len(want)}


def test_a_skewed_version_is_stamped_30_years_ahead_and_the_next_one_normally(sim):
    # GIVEN an order (date precision off) with a skewed version followed by a normal one
    by_record = versions_by_record(orders.order_versions(CFG))
    rid, first, second = next(
        (rid, a, b)
        for rid, vs in sorted(by_record.items())
        if not stamped_by_date_only("orders", rid, 0.6)
        for a, b in zip(vs, vs[1:], strict=False)
        if skewed("orders", rid, a.updated_at, 0.05) and not skewed("orders", rid, b.updated_at, 0.05)
    )
    # WHEN the clock is at the skewed version and a client asks for changes since its true time
    sim.set_clock(bj_iso(first.updated_at))
    pages = cursor_pages(sim, "/v1/orders", 100, updated_since=bj_iso(first.updated_at))
    served = {o["order_id"]: o for p in pages for o in p["data"]}
    # THEN it carries the true wall-clock time, SKEW_YEARS later
    true = datetime.fromisoformat(first.body["updated_at"])
    assert datetime.fromisoformat(served[rid]["updated_at"]) == true.replace(year=true.year + SKEW_YEARS)
    # AND the server filters on the true time: one second later the version is not served
    later = cursor_pages(sim, "/v1/orders", 100, updated_since=bj_iso(first.updated_at + 1))
    assert rid not in {o["order_id"] for p in later for o in p["data"]}
    # AND the record's next version is stamped with its own, true time
    sim.set_clock(bj_iso(second.updated_at))
    pages = cursor_pages(sim, "/v1/orders", 100, updated_since=bj_iso(second.updated_at))
    assert {o["order_id"]: o["updated_at"] for p in pages for o in p["data"]}[rid] == second.body["updated_at"]


def served_order(sim, version) -> dict:
    """The order as S3 serves it with the clock at `version` (read by the true-time filter)."""
    sim.set_clock(bj_iso(version.updated_at))
    pages = cursor_pages(sim, "/v1/orders", 100, updated_since=bj_iso(version.updated_at))
    return {o["order_id"]: o for p in pages for o in p["data"]}[version.record_id]


def test_tied_versions_of_one_record_share_their_updated_at(sim):
    # GIVEN a date-precision order whose later version reuses its previous version's stamp
    by_record = versions_by_record(orders.order_versions(CFG))
    rid, before, after = next(
        (rid, a, b)
        for rid, vs in sorted(by_record.items())
        if stamped_by_date_only("orders", rid, 0.6)
        for a, b in zip(vs, vs[1:], strict=False)
        if tied_to_previous("orders", rid, b.updated_at)
        and not skewed("orders", rid, a.updated_at, 0.05)
        and not skewed("orders", rid, b.updated_at, 0.05)
        and a.body["status"] != b.body["status"]
    )
    # WHEN the order is read at each version's clock
    first, second = served_order(sim, before), served_order(sim, after)
    # THEN the two versions differ but carry the same updated_at, no later than the true times
    assert first["status"] != second["status"]
    assert first["updated_at"] == second["updated_at"]
    assert datetime.fromisoformat(first["updated_at"]).timestamp() <= before.updated_at


def test_ties_make_records_share_an_updated_at_across_a_page_boundary(sim):
    # GIVEN S3 with date precision for 60 % of the orders, at the end of the world
    sim.set_clock(END)
    # WHEN the orders are read in pages of 10
    pages = [p["data"] for p in cursor_pages(sim, "/v1/orders", 10)]
    # THEN some page ends with the same updated_at the next one starts with
    tied_pairs = [(a[-1], b[0]) for a, b in zip(pages, pages[1:], strict=False) if a and b]
    assert any(x["updated_at"] == y["updated_at"] for x, y in tied_pairs)


def plus_a_year(iso: str) -> str:
    return f"{int(iso[:4]) + 1}{iso[4:]}"


def test_typo_year_serves_placed_at_and_visit_date_one_year_late_for_exactly_the_announced_records(sim):
    # GIVEN S3 and S1 with the typo_year fault, at the end of the world
    sim.set_clock(END)
    want_orders = latest(orders.order_versions(CFG), END)
    want_visits = latest(scipop.visit_versions(CFG), END)
    # WHEN every order and stop-visit is read
    got_orders = {o["order_id"]: o["placed_at"] for p in cursor_pages(sim, "/v1/orders", 100) for o in p["data"]}
    got_visits = {}
    for page in offset_pages(sim, "/api/v1/stop-visits", 100):
        for item in page["items"]:
            # the record is <stop_id>/<true visit_date>; a stop runs for weeks, so a date a
            # year late cannot be another day of the same stop
            rid = f"{item['stop_id']}/{item['visit_date']}"
            if rid not in want_visits:
                rid = f"{item['stop_id']}/{int(item['visit_date'][:4]) - 1}{item['visit_date'][4:]}"
            got_visits[rid] = item["visit_date"]
    # THEN the announced records carry the date a year late, and only those
    assert set(got_orders) == set(want_orders) and set(got_visits) == set(want_visits)
    late_orders = {k for k, placed in got_orders.items() if placed != want_orders[k]["placed_at"]}
    assert late_orders == {k for k in want_orders if typo_year("orders", k, 0.1)} != set()
    assert all(got_orders[k] == plus_a_year(want_orders[k]["placed_at"]) for k in late_orders)
    late_visits = {k for k, d in got_visits.items() if d != want_visits[k]["visit_date"]}
    assert late_visits == {k for k in want_visits if typo_year("stop_visits", k, 0.2)} != set()
    assert all(got_visits[k] == plus_a_year(want_visits[k]["visit_date"]) for k in late_visits)


@pytest.fixture(scope="module")
def shifting(tmp_path_factory):
    faults = ["scipop_platform:unordered=1,shift=1"]
    with SimulatorProcess(tmp_path_factory.mktemp("shifting"), seed=5, scale=0.05, faults=faults) as s:
        yield s


def test_shift_in_an_id_ordered_listing_repeats_rows_but_loses_none(shifting):
    # GIVEN S1 ordered by id, with a record updated before every page after the first
    since = "2021-06-01T00:00:00+08:00"
    want = {k for k, v in latest(scipop.visit_versions(WorldConfig(5, 0.05)), END).items() if v["updated_at"] >= since}
    # WHEN a client pages the stop-visits changed since a date
    items, page = [], 1
    while body := get(
        shifting, "scipop_platform", "/api/v1/stop-visits", page=page, page_size=20, modified_after=since
    ):
        if not body["items"]:
            break
        items += body["items"]
        page += 1
    ids = [f"{i['stop_id']}/{i['visit_date']}" for i in items]
    # THEN records that entered the listing before its position pushed rows back: some are read twice
    assert len(ids) > len(set(ids))
    # AND every record of the listing as it was when the read began was read
    assert want - set(ids) == set()
