"""The true value of every metric, computed in plain Python from the generated records.

This is the independent check on the pipeline: it shares no code with the dbt models and
reads the generators directly (not the served pages, not the warehouse). It follows the
contract of `shared/design/metrics.md` literally.

Result: {(metric_id, region_code, period_month 'YYYY-MM-01'): (region_level, value)}.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from statistics import median

from simulator import orders
from simulator.world import PROVINCE, WorldConfig, bj_month, county_by_code, parse_ts

# unit of each metric the truth knows (additive units get province zero-fill)
UNITS = {
    "orders_placed": "count",
    "orders_accepted": "count",
    "orders_resolved": "count",
    "orders_acceptance_hours_median": "hours",
    "orders_sme_share": "ratio",
    "orders_cast_paid_cny": "cny",
    "orders_tech_transaction_cny": "cny",
}
ADDITIVE_UNITS = {"count", "person_times", "cny"}
PROVINCE_ADMINISTERED = {"429004", "429005", "429006", "429021"}


def region_keys(county_code: str) -> list[tuple[str, str]]:
    """(region_code, level) rows a county-level record rolls up into."""
    county = county_by_code()[county_code]
    keys = [] if county.code in PROVINCE_ADMINISTERED else [(county.code, "county")]
    return keys + [(county.prefecture_code, "prefecture"), (PROVINCE, "province")]


def _months_between(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}-01" <= last:
        out.append(f"{y:04d}-{m:02d}-01")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _zero_fill_province(values: dict) -> None:
    by_metric = defaultdict(list)
    for metric_id, region, month in values:
        if region == PROVINCE:
            by_metric[metric_id].append(month)
    for metric_id, months in by_metric.items():
        if UNITS[metric_id] not in ADDITIVE_UNITS:
            continue
        for month in _months_between(min(months), max(months)):
            values.setdefault((metric_id, PROVINCE, month), ("province", 0.0))


def order_metrics(cfg: WorldConfig, clock: int) -> dict:
    current = orders.visible(orders.order_versions(cfg), clock)
    sums: dict = defaultdict(Decimal)  # additive metrics, exact
    hours: dict = defaultdict(list)  # (region, month) -> acceptance hours
    sme: dict = defaultdict(lambda: [0, 0])  # (region, month) -> [sme, all placed]
    levels: dict[str, str] = {}
    for v in current.values():
        o = v.body
        if o["status"] == "cancelled":
            continue
        regions = region_keys(o["county_code"])
        levels.update(regions)
        placed_month = bj_month(parse_ts(o["placed_at"]))
        for region, _ in regions:
            sums[("orders_placed", region, placed_month)] += 1
            counts = sme[(region, placed_month)]
            counts[1] += 1
            counts[0] += o["enterprise_size"] in ("small", "micro")
        if o["accepted_at"] is not None:
            accepted = parse_ts(o["accepted_at"])
            month = bj_month(accepted)
            for region, _ in regions:
                sums[("orders_accepted", region, month)] += 1
                hours[(region, month)].append((accepted - parse_ts(o["placed_at"])) / 3600)
        if o["status"] in ("resolved", "closed"):
            month = bj_month(parse_ts(o["resolved_at"]))
            for region, _ in regions:
                sums[("orders_resolved", region, month)] += 1
                sums[("orders_cast_paid_cny", region, month)] += Decimal(o["cast_paid_cny"])
                sums[("orders_tech_transaction_cny", region, month)] += Decimal(o["tech_transaction_cny"])
    values = {(m, r, mo): (levels[r], float(x)) for (m, r, mo), x in sums.items()}
    for (region, month), hs in hours.items():
        values[("orders_acceptance_hours_median", region, month)] = (levels[region], float(median(hs)))
    for (region, month), (small, total) in sme.items():
        if total > 0:
            values[("orders_sme_share", region, month)] = (levels[region], small / total)
    return values


def metric_values(cfg: WorldConfig, clock: int) -> dict:
    values = order_metrics(cfg, clock)
    _zero_fill_province(values)
    return values
