"""Each source's true metric values, computed in plain Python from its generated records,
and what a correct pipeline quarantines of it (the rules and choices are in `simulator.truth`,
which adds them up over the sources of `simulator.sources`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from statistics import median

from simulator import drops, orders, roadshows, rules, scipop
from simulator.faults import MISSING_FIELD, Faults, served_body
from simulator.orders import Version
from simulator.world import BEIJING, PROVINCE, WorldConfig, bj_month, county_by_code, parse_ts

PROVINCE_ADMINISTERED = {"429004", "429005", "429006", "429021"}


def region_keys(code: str) -> list[tuple[str, str]]:
    """(region_code, level) rows a record coded with a county, prefecture or 420000 rolls up into."""
    if code == PROVINCE:
        return [(PROVINCE, "province")]
    county = county_by_code().get(code)
    if county is None:  # a prefecture code
        return [(code, "prefecture"), (PROVINCE, "province")]
    keys = [] if county.code in PROVINCE_ADMINISTERED else [(county.code, "county")]
    return keys + [(county.prefecture_code, "prefecture"), (PROVINCE, "province")]


def months_between(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}-01" <= last:
        out.append(f"{y:04d}-{m:02d}-01")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def latest_served(versions: Iterable[Version], clock: int, entity: str, faults: Faults | None) -> dict[str, dict]:
    """{record_id: the body the (faulty) source serves for the record's latest version at
    the clock}. The generators yield each record's versions together (the store relies on
    it too), so records stream one at a time."""
    f = faults or Faults()
    out: dict[str, dict] = {}
    for rid, group in groupby(versions, key=lambda v: v.record_id):
        seen = sorted((v for v in group if v.updated_at <= clock), key=lambda v: (v.updated_at, v.seq))
        if seen:
            last = seen[-1]
            history = [v.updated_at for v in seen[:-1]]
            out[rid] = served_body(entity, rid, last.updated_at, dict(last.body), f, history)
    return out


def _missing(entity: str, body: dict) -> rules.Violation | None:
    field = MISSING_FIELD[entity]
    return None if field in body else (field, None, "missing_field")


def _screen_orders(cfg: WorldConfig, clock: int, faults: Faults | None, quarantined: dict) -> dict[str, dict]:
    asof = bj_month(clock)
    kept = {}
    for rid, o in latest_served(orders.order_versions(cfg), clock, "orders", faults).items():
        why = _missing("orders", o) or rules.order_violation(o, asof)
        if why:
            quarantined[("orders", rid)] = why
        else:
            kept[rid] = o
    return kept


def order_metrics(cfg: WorldConfig, clock: int, faults: Faults | None = None) -> dict:
    current = _screen_orders(cfg, clock, faults, {})
    sums: dict = defaultdict(Decimal)  # additive metrics, exact
    hours: dict = defaultdict(list)  # (region, month) -> acceptance hours
    sme: dict = defaultdict(lambda: [0, 0])  # (region, month) -> [sme, all placed]
    levels: dict[str, str] = {}
    for o in current.values():
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


def _month(d: date) -> str:
    return d.strftime("%Y-%m-01")


def _finish(sums: dict, levels: dict) -> dict:
    return {(m, r, mo): (levels[r], float(x)) for (m, r, mo), x in sums.items()}


def _screen_roadshows(cfg: WorldConfig, clock: int, faults: Faults | None, quarantined: dict):
    """(roadshow, [its projects]) a correct pipeline keeps; what it quarantines goes to `quarantined`."""
    asof = bj_month(clock)
    for rs_versions, project_lists in roadshows.roadshow_stories(cfg):
        rs = latest_served(rs_versions, clock, "roadshows", faults)
        if not rs:
            continue
        ((rid, r),) = rs.items()
        projects = {}
        for pv in project_lists:
            for pid, p in latest_served(pv, clock, "roadshow_projects", faults).items():
                why = _missing("roadshow_projects", p)
                if why:
                    quarantined[("roadshow_projects", pid)] = why
                else:
                    projects[pid] = p
        why = _missing("roadshows", r) or rules.roadshow_violation(r, asof)
        if why:
            quarantined[("roadshows", rid)] = why
            for pid in projects:  # R4: the roadshow with its projects
                quarantined[("roadshow_projects", pid)] = ("roadshow_id", rid, "roadshow_quarantined")
            continue
        yield r, list(projects.values())


def roadshow_metrics(cfg: WorldConfig, clock: int, faults: Faults | None = None) -> dict:
    sums: dict = defaultdict(Decimal)
    levels: dict[str, str] = {}
    for r, projects in _screen_roadshows(cfg, clock, faults, {}):
        if r["status"] != "held":
            continue
        regions = region_keys(r["hub_city_code"])
        levels.update(regions)
        month = _month(date.fromisoformat(r["held_on"]))
        for region, _ in regions:
            sums[("roadshows_held", region, month)] += 1
            sums[("roadshow_enterprises_reached", region, month)] += r["enterprises_attending"]
            for p in projects:
                sums[("roadshow_projects_pitched", region, month)] += 1
                sums[("roadshow_contracts_signed", region, month)] += p["signed_contracts"]
                sums[("roadshow_contract_amount_cny", region, month)] += Decimal(p["contract_amount_cny"])
    return _finish(sums, levels)


def _screen_stops(cfg: WorldConfig, clock: int, faults: Faults | None, quarantined: dict):
    """(stop, [its visits]) a correct pipeline keeps; what it quarantines goes to `quarantined`."""
    asof = bj_month(clock)
    for s in range(1, cfg.count(scipop.MUSEUM_SETS_AT_SF1) + 1):
        for stop_versions, visit_versions in scipop._tour(cfg, s):
            stops = latest_served(stop_versions, clock, "exhibition_stops", faults)
            if not stops:
                continue
            ((stop_id, stop),) = stops.items()
            stop_why = _missing("exhibition_stops", stop) or rules.stop_violation(stop)
            if stop_why:
                quarantined[("exhibition_stops", stop_id)] = stop_why
            visits = []
            for vid, v in latest_served(visit_versions, clock, "stop_visits", faults).items():
                why = _missing("stop_visits", v) or rules.visit_violation(v, asof)
                if why is None and stop_why:  # R3: the stop with its visits
                    why = ("stop_id", stop_id, "stop_quarantined")
                if why:
                    quarantined[("stop_visits", vid)] = why
                else:
                    visits.append(v)
            if not stop_why:
                yield stop, visits


def museum_metrics(cfg: WorldConfig, clock: int, faults: Faults | None = None) -> dict:
    today = datetime.fromtimestamp(clock, tz=BEIJING).date()
    sums: dict = defaultdict(int)
    open_stops: dict = defaultdict(set)
    levels: dict[str, str] = {}
    for stop, visits in _screen_stops(cfg, clock, faults, {}):
        stop_id = stop["stop_id"]
        regions = region_keys(stop["host_county_code"])
        levels.update(regions)
        if stop["status"] != "cancelled":
            d = date.fromisoformat(stop["start_date"])
            last = min(date.fromisoformat(stop["end_date"]), today)
            while d <= last:
                for region, _ in regions:
                    open_stops[(region, _month(d))].add(stop_id)
                d = d.replace(day=1) + timedelta(days=32)
                d = d.replace(day=1)
        for v in visits:
            month = _month(date.fromisoformat(v["visit_date"]))
            for region, _ in regions:
                sums[("mobile_museum_visitors", region, month)] += v["visitors"]
                sums[("mobile_museum_student_visitors", region, month)] += v["student_visitors"]
    values = _finish(sums, levels)
    for (region, month), ids in open_stops.items():
        values[("mobile_museum_stops_open", region, month)] = (levels[region], float(len(ids)))
    return values


def registry_at(cfg: WorldConfig, clock: int, faults: Faults | None, quarantined: dict) -> dict[str, dict]:
    """The S1 rural-centre registry a correct pipeline holds at the clock."""
    kept = {}
    for cid, c in latest_served(scipop.centre_versions(cfg), clock, "rural_centres", faults).items():
        why = _missing("rural_centres", c)
        if why:
            quarantined[("rural_centres", cid)] = why
        else:
            kept[cid] = c
    return kept


def rural_report_metrics(
    cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None, extra_reports: Collection = ()
) -> dict:
    """S4 with the S1 registry: `faults` is the whole {source: Faults} (S1's `missing` takes
    centres out of the registry, R5; the S4 `broken` fault shapes the files). `extra_reports`:
    reports (drops.Report) a test sent besides the simulator's files, received after them."""
    faults = faults or {}
    sums: dict = defaultdict(int)
    reporting: dict = defaultdict(set)
    levels: dict[str, str] = {}
    accepted = drops.accepted_reports(cfg, clock, faults)
    accepted.update({(r.centre_id, r.month.isoformat()): r for r in extra_reports})
    for (centre_id, month), r in accepted.items():
        regions = region_keys(r.county_code)
        levels.update(regions)
        for region, _ in regions:
            reporting[(region, month)].add(centre_id)
            sums[("rural_centre_student_visits", region, month)] += r.student_visits
            sums[("rural_centre_public_visits", region, month)] += r.public_visits
            sums[("rural_centre_activities", region, month)] += r.activities
    values = _finish(sums, levels)
    for (region, month), ids in reporting.items():
        values[("rural_centres_reporting", region, month)] = (levels[region], float(len(ids)))
    if not accepted:
        return values
    registry = registry_at(cfg, clock, faults.get("scipop_platform"), {})
    report_months = sorted({m for _, m in accepted})
    for month in months_between(report_months[0], report_months[-1]):
        y, m = int(month[:4]), int(month[5:7])
        month_end = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).isoformat()
        active: dict = defaultdict(set)
        for c in registry.values():
            if c["status"] == "active" and c["opened_on"] <= month_end:
                for region, level in region_keys(c["county_code"]):
                    active[region].add(c["centre_id"])
                    levels[region] = level
        for region, ids in active.items():
            got = len(reporting.get((region, month), set()) & ids)
            values[("rural_centre_report_rate", region, month)] = (levels[region], got / len(ids))
    return values


def ledger_metrics(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None) -> dict:
    acts, _ = drops.ledger_rows(cfg, clock, faults)
    sums: dict = defaultdict(Decimal)
    surveyed: dict = defaultdict(set)
    levels: dict[str, str] = {}
    for (metric, region_code, d), value in acts.items():
        month = _month(d)
        if metric == "literacy_survey_prefectures":
            if value > 0 and region_code != PROVINCE:
                county = county_by_code().get(region_code)
                surveyed[month].add(county.prefecture_code if county else region_code)
            continue
        regions = region_keys(region_code)
        levels.update(regions)
        for region, _ in regions:
            sums[(metric, region, month)] += Decimal(str(value))
    values = _finish(sums, levels)
    for month, prefs in surveyed.items():
        for p in prefs:
            values[("literacy_survey_prefectures", p, month)] = ("prefecture", 1.0)
        values[("literacy_survey_prefectures", PROVINCE, month)] = ("province", float(len(prefs)))
    return values


def order_quarantine(cfg: WorldConfig, clock: int, faults: dict[str, Faults], quarantined: dict) -> None:
    """S3's orders and service teams a correct pipeline quarantines, into `quarantined`."""
    _screen_orders(cfg, clock, faults.get("kechuang_orders"), quarantined)
    teams = latest_served(orders.team_versions(cfg), clock, "service_teams", faults.get("kechuang_orders"))
    quarantined.update({("service_teams", k): w for k, t in teams.items() if (w := _missing("service_teams", t))})


def roadshow_quarantine(cfg: WorldConfig, clock: int, faults: dict[str, Faults], quarantined: dict) -> None:
    """S2's roadshows and projects a correct pipeline quarantines, into `quarantined`."""
    for _ in _screen_roadshows(cfg, clock, faults.get("kechuang_roadshows"), quarantined):
        pass


def museum_quarantine(cfg: WorldConfig, clock: int, faults: dict[str, Faults], quarantined: dict) -> None:
    """S1's stops, visits and rural centres a correct pipeline quarantines, into `quarantined`."""
    for _ in _screen_stops(cfg, clock, faults.get("scipop_platform"), quarantined):
        pass
    registry_at(cfg, clock, faults.get("scipop_platform"), quarantined)
