"""The truth applies the quarantine rules (helpers/quarantine_rules.md R1–R6) to what the
faulty sources serve: with every fault off no generated record breaks a rule at any clock
(so the truth is the generated world's), timestamp faults change nothing, and a date typed
a year late is counted in the month served or quarantined, as the rules say."""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import groupby

import pytest

from simulator import drops, orders, roadshows, rules, scipop, truth
from simulator.faults import Faults, typo_year
from simulator.world import WorldConfig, bj_month, parse_ts

CFG = WorldConfig(seed=9, scale=0.1)
MID = parse_ts("2021-06-30T23:59:59+08:00")
END = parse_ts("2021-12-31T23:59:59+08:00")  # a 2020 date typed as 2021 is then within the as-of month
MONTH_ENDS = [f"{y}-{m:02d}-28T23:59:59+08:00" for y, m in [(2020, mm) for mm in range(7, 13)]] + [
    f"2021-{m:02d}-28T23:59:59+08:00" for m in range(1, 13)
]


@pytest.mark.parametrize("cfg", [WorldConfig(9, 0.1), WorldConfig(42, 1.0)], ids=["seed9-sf0.1", "seed42-sf1"])
def test_no_generated_version_breaks_r1_to_r4_from_the_moment_it_is_published(cfg):
    # GIVEN every version of every record, and the earliest as-of month it is visible at
    # (its own updated_at's month: the as-of month only grows with the clock)
    checks = [
        (orders.order_versions(cfg), lambda v: rules.order_violation(v.body, bj_month(v.updated_at))),
        (scipop.visit_versions(cfg), lambda v: rules.visit_violation(v.body, bj_month(v.updated_at))),
        (scipop.stop_versions(cfg), lambda v: rules.stop_violation(v.body)),
        (roadshows.roadshow_versions(cfg), lambda v: rules.roadshow_violation(v.body, bj_month(v.updated_at))),
    ]
    # WHEN each is checked THEN none breaks a rule
    for versions, check in checks:
        broken = [(v.record_id, v.seq, why) for v in versions if (why := check(v))]
        assert broken == []


@pytest.mark.parametrize("cfg", [WorldConfig(9, 0.1), WorldConfig(42, 1.0)], ids=["seed9-sf0.1", "seed42-sf1"])
def test_no_generated_file_row_breaks_r5_or_r6_from_the_moment_it_is_uploaded(cfg):
    # GIVEN every report and ledger row without faults, at its file's upload instant
    registered = {}
    for n in range(1, cfg.count(scipop.CENTRES_AT_SF1) + 1):
        story = scipop.centre_story(cfg, n)
        registered[story[0].body["centre_id"]] = story[0].updated_at
    bad = []
    for f in drops.all_files(cfg):
        asof = date.fromisoformat(bj_month(f.submitted))
        for r in f.reports:
            if r.bad is None and not (date(2020, 7, 1) <= r.month <= asof and registered[r.centre_id] <= f.submitted):
                bad.append((f.path, r.centre_id, r.month))
        for row in f.ledger:
            if row[6] is None and not (date(2020, 7, 1) <= row[3].replace(day=1) <= asof):
                bad.append((f.path, row[:4]))
    # THEN none breaks R5 (month in the plan period, centre registered) or R6
    assert bad == []


def test_with_faults_off_the_rules_quarantine_nothing_at_any_clock():
    for clock in map(parse_ts, MONTH_ENDS):
        # GIVEN no faults WHEN the truth's quarantine is asked THEN it holds no HTTP record,
        assert truth.quarantined_records(CFG, clock) == {}
        # AND in the drops only the rows the generators plant on purpose (none by R6, and by
        # R5 only the unregistered schools they plant)
        plan = drops.drop_plan(CFG, clock)
        assert {(q.category, q.rule) for q in plan.quarantined} <= {
            ("negative_value", None),
            ("days_open_over_31", None),
            ("unknown_county", None),
            ("unknown_region", None),
            ("unknown_centre", "R5"),
        }
        assert all(q.value.startswith("RC9") for q in plan.quarantined if q.category == "unknown_centre")


def test_timestamp_and_paging_faults_change_no_true_value():
    # GIVEN every source with ties, backwards timestamps, a skewed clock, capped and unordered pages
    odd = dict(ties=0.5, backwards=0.3, skew=0.2, page_cap=7, shift=0.5)
    faults = {
        "kechuang_orders": Faults(**odd),
        "kechuang_roadshows": Faults(**odd),
        "scipop_platform": Faults(**odd, unordered=1),
    }
    # WHEN the truth is computed THEN it equals the truth without faults
    for clock in (MID, parse_ts(MONTH_ENDS[-1])):
        assert truth.metric_values(CFG, clock, truth.ALL_SOURCES, faults) == truth.metric_values(
            CFG, clock, truth.ALL_SOURCES
        )


def plus_a_year(iso: str) -> str:
    return f"{int(iso[:4]) + 1}{iso[4:]}"


def test_an_order_placed_a_year_late_counts_in_the_served_month_or_is_quarantined_by_r1():
    # GIVEN S3 serves 30 % of the orders with placed_at a year late, at the end of the world
    faults = {"kechuang_orders": Faults(typo_year=0.3)}
    asof = bj_month(END)
    latest = {k: v.body for k, v in orders.visible(orders.order_versions(CFG), END).items()}
    # WHEN the province's orders_placed is worked out by hand from the served placed_at
    placed, quarantined = Counter(), set()
    for oid, o in latest.items():
        served = plus_a_year(o["placed_at"]) if typo_year("orders", oid, 0.3) else o["placed_at"]
        month = bj_month(parse_ts(served))
        if month > asof or (o["accepted_at"] and o["accepted_at"] < served):
            quarantined.add(oid)
        elif o["status"] != "cancelled":
            placed[month] += 1
    # THEN the truth agrees and quarantines exactly those orders: a 2021 placed_at after the
    # as-of month, or (for a 2020 order) before its own acceptance
    values = truth.metric_values(CFG, END, ("S3",), faults)
    got = {m: v for (metric, r, m), (_, v) in values.items() if metric == "orders_placed" and r == "420000" and v}
    assert got == {m: float(n) for m, n in placed.items()}
    q = truth.quarantined_records(CFG, END, faults, ("S3",))
    assert {rid for (entity, rid) in q if entity == "orders"} == quarantined != set()
    assert {why[2] for why in q.values()} == {"month_out_of_range", "accepted_before_placed"}


def test_a_stop_visit_dated_a_year_late_counts_in_the_served_month_or_is_quarantined_by_r2():
    # GIVEN S1 serves 30 % of the stop-visits with visit_date a year late, at the end of the world
    faults = {"scipop_platform": Faults(typo_year=0.3)}
    asof = bj_month(END)
    visits = {k: v.body for k, v in orders.visible(scipop.visit_versions(CFG), END).items()}
    # WHEN the province's visitors are worked out by hand from the served visit_date
    by_month, quarantined, counted_late = Counter(), set(), set()
    for vid, v in visits.items():
        late = typo_year("stop_visits", vid, 0.3)
        day = plus_a_year(v["visit_date"]) if late else v["visit_date"]
        if day[:7] + "-01" > asof:
            quarantined.add(vid)
        else:
            by_month[day[:7] + "-01"] += v["visitors"]
            counted_late |= {vid} if late else set()
    # THEN the truth agrees: a 2021 visit typed as 2022 is quarantined, a 2020 visit typed as
    # 2021 counts in the 2021 month it was served with
    values = truth.metric_values(CFG, END, ("S1",), faults)
    got = {
        m: v for (metric, r, m), (_, v) in values.items() if metric == "mobile_museum_visitors" and r == "420000" and v
    }
    assert got == {m: float(n) for m, n in by_month.items() if n}
    q = truth.quarantined_records(CFG, END, faults, ("S1",))
    assert {rid for (entity, rid) in q if entity == "stop_visits"} == quarantined != set()
    assert counted_late


def test_quarantined_records_name_the_missing_field_and_the_children_of_a_quarantined_parent():
    faults = {"scipop_platform": Faults(missing=0.2), "kechuang_roadshows": Faults(missing=0.5)}
    q = truth.quarantined_records(CFG, MID, faults)
    by_entity = {e: [why for (entity, _), why in q.items() if entity == e] for e, _ in q}
    assert {why for why in by_entity["exhibition_stops"]} == {("host_county_code", None, "missing_field")}
    assert ("stop_id", "stop_quarantined") in {(c, cat) for c, _, cat in by_entity["stop_visits"]}
    assert {why for why in by_entity["rural_centres"]} == {("county_code", None, "missing_field")}
    assert {why[2] for why in by_entity["roadshows"]} == {"missing_field"}
    # every visit of a quarantined stop is left out of the truth with it
    stops = {rid for (entity, rid) in q if entity == "exhibition_stops"}
    for vid, why in q.items():
        if vid[0] == "stop_visits" and why[2] == "stop_quarantined":
            assert why[1] in stops and vid[1].startswith(why[1] + "/")


def test_every_version_of_a_record_in_the_generators_comes_together():
    # the truth streams records one at a time (groupby): the generators must not interleave them
    for versions in (orders.order_versions(CFG), scipop.visit_versions(CFG), roadshows.project_versions(CFG)):
        ids = [rid for rid, _ in groupby(versions, key=lambda v: v.record_id)]
        assert len(ids) == len(set(ids))


def test_rural_metrics_leave_out_reports_of_centres_the_s1_missing_fault_strips():
    # GIVEN S1 strips a required field from 30 % of the rural centres (the pipeline quarantines them)
    faults = {"scipop_platform": Faults(missing=0.3)}
    stripped = {k for (entity, k) in truth.quarantined_records(CFG, END, faults, ("S1",)) if entity == "rural_centres"}
    # WHEN the S4 metrics are computed
    values = truth.metric_values(CFG, END, ("S4",), faults)
    plain = truth.metric_values(CFG, END, ("S4",))
    # THEN each month's reporting centres are the accepted reports of registered centres only (R5)
    reports = drops.accepted_reports(CFG, END)
    by_month = Counter(m for c, m in reports if c not in stripped)
    got = {m: v for (metric, r, m), (_, v) in values.items() if metric == "rural_centres_reporting" and r == "420000"}
    assert stripped and got == {m: float(n) for m, n in by_month.items()}

    def student_visits(vals: dict) -> float:
        return sum(v for (m, r, _), (_, v) in vals.items() if m == "rural_centre_student_visits" and r == "420000")

    assert student_visits(values) < student_visits(plain)
