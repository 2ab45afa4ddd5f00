"""What tests and the truth ask of the drops at a clock: the files due, what a correct pipeline
rejects or quarantines (rules R5/R6 included), and the rows it accepts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from simulator import scipop
from simulator.drops.defects import FORMULA_REASON, MERGED_REASON, ROW_CATEGORY
from simulator.drops.disk import all_files
from simulator.drops.files import DropFile, Report
from simulator.drops.ledger import ledger_formula
from simulator.drops.reports import report_formula, report_layout
from simulator.faults import Faults, missing_field
from simulator.world import WorldConfig, bj_month

PLAN_START = date(2020, 7, 1)  # quarantine rules R5/R6: nothing is dated before the plan


@dataclass(frozen=True)
class RejectedFile:
    path: str
    category: str  # broken_header, corrupt, unreadable_cell, csv_error, zip_bomb, encrypted
    reason: str


@dataclass(frozen=True)
class QuarantinedRow:
    path: str
    sheet: str | None  # None for a CSV
    row: int  # row number as a person sees it
    column: str  # the column header
    value: str  # as written (R5/R6: the month / date as parsed, YYYY-MM-01 / YYYY-MM-DD)
    category: str
    reason: str
    rule: str | None = None  # "R5" / "R6": applied at staging; None: at extraction


@dataclass(frozen=True)
class FileInfo:
    path: str
    source: str
    submitted: int
    defect: str | None
    sheet: str | None  # the sheet holding the data (None: a CSV, or a rejected file)
    sheet_index: int | None  # its 0-based position among the workbook's sheets
    rejected: RejectedFile | None


@dataclass
class DropPlan:
    """What the drop folders hold at a clock, and what a correct pipeline makes of it."""

    files: list[FileInfo]
    rejected: list[RejectedFile]
    quarantined: list[QuarantinedRow]

    def file(self, path: str) -> FileInfo:
        return next(f for f in self.files if f.path == path)


def due_files(
    cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None, source: str | None = None
) -> list[DropFile]:
    return [f for f in all_files(cfg, faults, source) if f.submitted <= clock]


def registry_centres(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None) -> set[str]:
    """R5: the centres of the S1 registry as a correct pipeline holds it at the clock — served
    by then, and not stripped of a required field by the S1 `missing` fault."""
    s1 = (faults or {}).get("scipop_platform")
    rate = s1.missing if s1 else 0.0
    out = set()
    for n in range(1, cfg.count(scipop.CENTRES_AT_SF1) + 1):
        story = scipop.centre_story(cfg, n)
        cid = story[0].body["centre_id"]
        if story[0].updated_at <= clock and missing_field("rural_centres", cid, rate) is None:
            out.add(cid)
    return out


def _in_plan(d: date, clock: int) -> bool:
    """R5/R6: a month within [2020-07, the clock's Beijing month]."""
    return PLAN_START <= date(d.year, d.month, 1) <= date.fromisoformat(bj_month(clock))


def _report_verdicts(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None):
    """(file, report, quarantined row or None) for every row of every due, readable S4 file."""
    registry = registry_centres(cfg, clock, faults)
    for f in due_files(cfg, clock, faults, "rural_centre_reports"):
        if f.rejected:
            continue
        _, where = report_layout(f)
        below = set(f.defect_rows[1:]) if f.defect == "merged_cells" else set()
        for i, r in enumerate(f.reports):
            row = where[id(r)]
            found = None  # (column, value, category, reason, rule)
            if r.bad is not None:
                header, value, reason = r.bad
                category = ROW_CATEGORY[reason]
                found = (header, value, category, reason, "R5" if category == "unknown_centre" else None)
            elif i in below:
                found = ("所属县区", "", "merged_cell", MERGED_REASON, None)
            elif f.defect == "formula_no_cache" and i in f.defect_rows:
                found = ("接待公众人次", report_formula(row), "formula_no_cache", FORMULA_REASON, None)
            elif not _in_plan(r.month, clock):
                found = (
                    "报告月份",
                    r.month.isoformat(),
                    "month_out_of_range",
                    "report month outside 2020-07 … as-of",
                    "R5",
                )
            elif r.centre_id not in registry:
                found = ("科技馆编号", r.centre_id, "unknown_centre", "unknown centre (not in the S1 registry)", "R5")
            yield f, r, QuarantinedRow(f.path, f.sheet, row, *found) if found else None


def _ledger_verdicts(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None):
    """(file, ledger row, quarantined row or None) for every activity row of every due, readable S5 file."""
    for f in due_files(cfg, clock, faults, "plan_ledger"):
        if f.rejected:
            continue
        below = set(f.defect_rows[1:]) if f.defect == "merged_cells" else set()
        for i, row in enumerate(f.ledger):
            n = i + 2
            measure, _metric, _region, d, value, _note, bad = row
            q = None
            if bad is not None:
                header, text, reason = bad
                q = QuarantinedRow(f.path, "台账", n, header, text, ROW_CATEGORY[reason], reason)
            elif i in below:
                q = QuarantinedRow(f.path, "台账", n, "措施编号", "", "merged_cell", MERGED_REASON)
            elif f.defect == "formula_no_cache" and i in f.defect_rows:
                q = QuarantinedRow(f.path, "台账", n, "数值", ledger_formula(value), "formula_no_cache", FORMULA_REASON)
            elif not _in_plan(d, clock):
                reason = "activity date outside 2020-07 … as-of"
                q = QuarantinedRow(f.path, "台账", n, "日期", d.isoformat(), "date_out_of_range", reason, "R6")
            yield f, row, q


def drop_plan(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None) -> DropPlan:
    """Every due file (its defect and data sheet), the files a correct pipeline rejects whole,
    and every row it quarantines (at extraction, or by R5/R6 at staging) at the clock.

    `faults`: {source: Faults} as the simulator was started with (the drop sources' `broken`,
    and S1's `missing`, which takes centres out of the registry R5 checks against)."""
    files, rejected = [], []
    for f in due_files(cfg, clock, faults):
        rej = RejectedFile(f.path, f.rejected_category or "rejected", f.rejected) if f.rejected else None
        sheet, index = (None, None) if rej else (f.sheet, f.sheet_index)
        files.append(FileInfo(f.path, f.source, f.submitted, f.defect, sheet, index, rej))
        if rej:
            rejected.append(rej)
    quarantined = [q for _, _, q in _report_verdicts(cfg, clock, faults) if q]
    quarantined += [q for _, _, q in _ledger_verdicts(cfg, clock, faults) if q]
    return DropPlan(files, rejected, quarantined)


def planted_bad_rows(
    cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None
) -> list[tuple[str, int, str, str, str]]:
    """(relative path, row number as a person sees it, column header, value, reason) of every
    quarantined row (see `drop_plan` for the category, the sheet and the rule)."""
    return [(q.path, q.row, q.column, q.value, q.reason) for q in drop_plan(cfg, clock, faults).quarantined]


def rejected_files(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None) -> list[tuple[str, str]]:
    """(relative path, reason) of files rejected whole."""
    return [(r.path, r.reason) for r in drop_plan(cfg, clock, faults).rejected]


def accepted_reports(
    cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None
) -> dict[tuple[str, str], Report]:
    """{(centre_id, 'YYYY-MM-01'): report} a correct pipeline accepts: newest file wins among
    the rows it does not quarantine."""
    out: dict[tuple[str, str], Report] = {}
    rows = [(f, r) for f, r, q in _report_verdicts(cfg, clock, faults) if q is None]
    for _, r in sorted(rows, key=lambda fr: (fr[0].submitted, fr[0].path)):
        out[(r.centre_id, r.month.isoformat())] = r
    return out


def ledger_rows(cfg: WorldConfig, clock: int, faults: dict[str, Faults] | None = None) -> tuple[dict, dict]:
    """(activities {(metric, region, date): value}, targets {(metric, region): (value, deadline)})
    after newer workbooks replace older rows; quarantined rows and rejected files left out."""
    acts: dict = {}
    targets: dict = {}
    rows = [(f, row) for f, row, q in _ledger_verdicts(cfg, clock, faults) if q is None]
    for _f, (_measure, metric, region, d, value, _note, _bad) in sorted(rows, key=lambda fr: fr[0].submitted):
        acts[(metric, region, d)] = value
    readable = [f for f in due_files(cfg, clock, faults, "plan_ledger") if not f.rejected]
    for f in sorted(readable, key=lambda f: f.submitted):
        for mid, reg, val, dl in f.targets:
            targets[(mid, reg)] = (val, dl)
    return acts, targets
