"""The per-record quarantine rules R1–R4 of the HTTP sources, as the truth reads them
(`helpers/quarantine_rules.md`, the contract with the pipeline's staging models; R5/R6, the
drop-folder rules, live with the files in `simulator/drops/plan.py`).

Each check takes a record as the source SERVED it (`faults.served_body`) and the as-of
month (the clock's Beijing month, 'YYYY-MM-01'), and returns the first violation as
(column, value, category), or None. Checked on the record's latest version at the clock.
"""

from __future__ import annotations

from simulator.world import bj_month, parse_ts

PLAN_START_MONTH = "2020-07-01"
PLAN_START_DAY = "2020-07-01"

Violation = tuple[str, object, str]


def in_plan(month: str, asof_month: str) -> bool:
    """A month ('YYYY-MM-01') within [2020-07, as-of month]."""
    return PLAN_START_MONTH <= month <= asof_month


def order_violation(o: dict, asof_month: str) -> Violation | None:
    """R1: each timestamp's month in the plan period up to the as-of month, and
    accepted_at >= placed_at, resolved_at >= accepted_at where both are present."""
    stamps = {}
    for column in ("placed_at", "accepted_at", "resolved_at"):
        value = o.get(column)
        if value is None:
            continue
        stamps[column] = parse_ts(value)
        if not in_plan(bj_month(stamps[column]), asof_month):
            return column, value, "month_out_of_range"
    if "placed_at" in stamps and "accepted_at" in stamps and stamps["accepted_at"] < stamps["placed_at"]:
        return "accepted_at", o["accepted_at"], "accepted_before_placed"
    if "accepted_at" in stamps and "resolved_at" in stamps and stamps["resolved_at"] < stamps["accepted_at"]:
        return "resolved_at", o["resolved_at"], "resolved_before_accepted"
    return None


def visit_violation(v: dict, asof_month: str) -> Violation | None:
    """R2: visit_date's month in the plan period up to the as-of month; visitors >= 0;
    0 <= student_visitors <= visitors (a missing student_visitors counts as 0)."""
    if not in_plan(v["visit_date"][:7] + "-01", asof_month):
        return "visit_date", v["visit_date"], "month_out_of_range"
    visitors = v["visitors"]
    if visitors < 0:
        return "visitors", visitors, "negative_value"
    students = v.get("student_visitors") or 0
    if not 0 <= students <= visitors:
        return "student_visitors", students, "students_out_of_range"
    return None


def stop_violation(s: dict) -> Violation | None:
    """R3: start_date >= 2020-07-01 and end_date >= start_date (quarantines the stop and its visits)."""
    if s["start_date"] < PLAN_START_DAY:
        return "start_date", s["start_date"], "before_plan"
    if s["end_date"] < s["start_date"]:
        return "end_date", s["end_date"], "end_before_start"
    return None


def roadshow_violation(r: dict, asof_month: str) -> Violation | None:
    """R4: a held roadshow's held_on month in the plan period up to the as-of month
    (quarantines the roadshow and its projects)."""
    if r["status"] == "held" and not in_plan(r["held_on"][:7] + "-01", asof_month):
        return "held_on", r["held_on"], "month_out_of_range"
    return None
