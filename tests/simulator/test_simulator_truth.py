"""The simulator's truth for a tiny world agrees with values worked out by hand from the
generated records, and obeys the contract's shape rules."""

from __future__ import annotations

from collections import Counter

from simulator import drops, roadshows, scipop, truth
from simulator.faults import Faults, missing_field
from simulator.world import WorldConfig, parse_ts

CFG = WorldConfig(seed=9, scale=0.1)
CLOCK = parse_ts("2021-06-30T23:59:59+08:00")


def latest(versions) -> dict[str, dict]:
    out: dict[str, tuple] = {}
    for v in versions:
        if v.updated_at <= CLOCK and (v.record_id not in out or v.updated_at > out[v.record_id][0]):
            out[v.record_id] = (v.updated_at, v.body)
    return {k: b for k, (_, b) in out.items()}


def test_roadshows_held_counts_held_roadshows_by_held_on_month_at_the_hub_city():
    values = truth.metric_values(CFG, CLOCK, sources=("S2",))
    by_hand = Counter()
    for r in latest(roadshows.roadshow_versions(CFG)).values():
        if r["status"] == "held":
            by_hand[(r["hub_city_code"], r["held_on"][:7] + "-01")] += 1
    assert by_hand
    for (city, month), n in by_hand.items():
        assert values[("roadshows_held", city, month)] == ("prefecture", float(n))
    assert sum(v for (m, r, _), (_, v) in values.items() if m == "roadshows_held" and r == "420000") == sum(
        by_hand.values()
    )


def test_mobile_museum_visitors_sum_the_latest_visit_rows_at_the_host_county():
    values = truth.metric_values(CFG, CLOCK, sources=("S1",))
    county = {s["stop_id"]: s["host_county_code"] for s in latest(scipop.stop_versions(CFG)).values()}
    by_hand = Counter()
    for v in latest(scipop.visit_versions(CFG)).values():
        by_hand[(county[v["stop_id"]], v["visit_date"][:7] + "-01")] += v["visitors"]
    (code, month), n = next((k, n) for k, n in sorted(by_hand.items()) if k[0] not in truth.PROVINCE_ADMINISTERED)
    assert values[("mobile_museum_visitors", code, month)] == ("county", float(n))


def test_policy_reports_follow_the_newest_ledger_and_skip_quarantined_rows():
    values = truth.metric_values(CFG, CLOCK, sources=("S5",))
    acts: dict = {}
    for f in sorted(drops.ledger_files(CFG), key=lambda f: f.submitted):
        if f.submitted <= CLOCK:
            acts.update({(r[1], r[2], r[3]): r[4] for r in f.ledger if r[6] is None})
    by_month = Counter()
    for (metric, _region, d), value in acts.items():
        if metric == "policy_reports":
            by_month[d.strftime("%Y-%m-01")] += value
    for month, n in by_month.items():
        assert values[("policy_reports", "420000", month)] == ("province", float(n))
    assert not any(r == "429999" for (_, r, _) in values)


def test_shape_rules_hold_for_every_metric():
    values = truth.metric_values(CFG, CLOCK, sources=truth.ALL_SOURCES)
    assert {m for m, _, _ in values} == set(truth.UNITS)
    assert not any(r in truth.PROVINCE_ADMINISTERED and lvl == "county" for (_, r, _), (lvl, _) in values.items())
    assert all(
        0 <= v <= 1 for (m, _, _), (_, v) in values.items() if m in ("rural_centre_report_rate", "orders_sme_share")
    )
    assert max(mo for _, _, mo in values) <= "2021-06-01"


def test_records_stripped_of_a_required_field_are_left_out():
    faults = {"kechuang_roadshows": Faults(missing=0.3)}
    full = truth.metric_values(CFG, CLOCK, sources=("S2",))
    cut = truth.metric_values(CFG, CLOCK, sources=("S2",), faults=faults)
    held = [r for r in latest(roadshows.roadshow_versions(CFG)).values() if r["status"] == "held"]
    kept = [r for r in held if missing_field("roadshows", r["roadshow_id"], 0.3) is None]
    total = lambda vals: sum(v for (m, r, _), (_, v) in vals.items() if m == "roadshows_held" and r == "420000")  # noqa: E731
    assert total(full) == len(held) and total(cut) == len(kept) < len(held)
