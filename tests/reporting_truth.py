"""What the people who send the S4 reports must be told, from the simulator alone: the reason
key each of the simulator's categories must come to (seeds/quarantine_reasons.csv, written out
by hand from the simulator's documentation), the return list (`return_rows`) and who has not
reported (`unreported`) of a world at a clock — never derived from the pipeline."""

from __future__ import annotations

from datetime import date, timedelta

from simulator import drops
from simulator import truth as sim_truth
from simulator.world import WorldConfig

S4 = "rural_centre_reports"

CATEGORY_KEY = {
    # rows
    "negative_value": "negative",
    "days_open_over_31": "days_over_31",
    "unknown_county": "unknown_county",
    "unknown_centre": "unknown_centre",
    "unknown_region": "unknown_region",
    "merged_cell": "merged_cell",
    "formula_no_cache": "formula_no_cache",
    "month_out_of_range": "month_out_of_range",
    "date_out_of_range": "date_out_of_range",
    # files refused whole
    "broken_header": "header_not_found",
    "corrupt": "file_damaged",
    "unreadable_cell": "file_damaged",
    "csv_error": "file_damaged",
    "zip_bomb": "file_too_big",
    "encrypted": "file_encrypted",
}


def month_end(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1) - timedelta(days=1)


def deadline(m: date, day: int = 5) -> date:
    """The report of month m is due on `day` of the following month."""
    return month_end(m) + timedelta(days=day)


def months(first: date, last: date) -> list[date]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = month_end(m) + timedelta(days=1)
    return out


def registry(cfg: WorldConfig, clock: int) -> dict[str, dict]:
    """The S1 registry a correct pipeline holds at the clock (latest version of each centre)."""
    return sim_truth.registry_at(cfg, clock, None, {})


def return_rows(cfg: WorldConfig, clock: int) -> set[tuple]:
    """(file, row, column, reason key, centre, month, county) of every S4 row a correct pipeline
    sets aside, and (file, None, None, key, None, None, None) of every file it refuses whole."""
    plan = drops.drop_plan(cfg, clock)
    files = {f.path: f for f in drops.due_files(cfg, clock, None, S4)}
    out = set()
    for q in (q for q in plan.quarantined if q.path.startswith(S4 + "/")):
        f = files[q.path]
        _, where = drops.report_layout(f)
        report = next(r for r in f.reports if where[id(r)] == q.row)
        out.add((q.path, q.row, q.column, CATEGORY_KEY[q.category], report.centre_id, report.month, report.county_code))
    for r in (r for r in plan.rejected if r.path.startswith(S4 + "/")):
        out.add((r.path, None, None, CATEGORY_KEY[r.category], None, None, None))
    return out


def unreported(cfg: WorldConfig, clock: int, as_of: date, extra: set | frozenset = frozenset()) -> dict:
    """{(month, centre): (county, school, deadline, days overdue, overdue?)}: the active centres
    (opened by the month's end) without an accepted report, from the first month with one to
    the later of the last such month and the last month whose deadline is before `as_of`.
    `extra`: (centre, 'YYYY-MM-01') reports accepted besides the simulator's."""
    reg = registry(cfg, clock)
    accepted = set(drops.accepted_reports(cfg, clock)) | set(extra)
    reported = sorted({date.fromisoformat(m) for _, m in accepted})
    last_due = max(m for m in months(reported[0], as_of) if deadline(m) < as_of)
    out = {}
    for m in months(reported[0], max(last_due, reported[-1])):
        due = deadline(m)
        for cid, c in reg.items():
            opened = c["opened_on"] <= month_end(m).isoformat()
            if c["status"] == "active" and opened and (cid, m.isoformat()) not in accepted:
                out[(m, cid)] = (c["county_code"], c["school_name"], due, max(0, (as_of - due).days), as_of > due)
    return out
