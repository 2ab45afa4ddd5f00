"""The `broken` drop fault: which files it chooses and the broken or awkward forms they take."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from simulator import workbook
from simulator.drops.files import DropFile
from simulator.drops.reports import report_layout
from simulator.faults import share
from simulator.world import WorldConfig

REPORT_DEFECTS = (
    "instructions_sheet",
    "corrupt",
    "merged_cells",
    "month_year_typo",
    "unreadable_cell",
    "hidden_sheet",
    "csv_error",
    "formula_no_cache",
    "zip_bomb",
    "month_before_plan",
    "encrypted",
)
LEDGER_DEFECTS = (
    "instructions_sheet",
    "corrupt",
    "merged_cells",
    "date_year_typo",
    "unreadable_cell",
    "hidden_sheet",
    "formula_no_cache",
    "zip_bomb",
    "date_before_plan",
    "encrypted",
)
REJECTING = {
    "corrupt": "truncated xlsx: not a readable zip archive",
    "unreadable_cell": "a cell openpyxl cannot read: an ISO-date cell holding month 13 in the last data row",
    "csv_error": "the csv module rejects it: the last row is cut inside a quoted field, then a zero-filled tail",
    "zip_bomb": f"zip bomb: the first sheet's XML inflates to {workbook.BOMB_BYTES >> 20} MiB",
    "encrypted": "password-protected workbook (OLE2 file with an EncryptedPackage stream)",
}
MERGED_REASON = "merged cell: the value is in the merged range's first row"
FORMULA_REASON = "formula without a cached value"
ROW_CATEGORY = {  # the reasons the generators plant -> a stable category
    "negative value": "negative_value",
    "more than 31 days open": "days_open_over_31",
    "unknown county": "unknown_county",
    "unknown centre": "unknown_centre",
    "unknown region code": "unknown_region",
}


def apply_broken(cfg: WorldConfig, files: Iterator[DropFile], source: str, rate: float) -> Iterator[DropFile]:
    """The `broken` fault: files chosen by a hash of their path take the kinds in turn."""
    kinds = LEDGER_DEFECTS if source == "plan_ledger" else REPORT_DEFECTS
    turn = 0
    for f in files:
        if rate > 0 and not f.rejected and share("broken", cfg.seed, f"{cfg.scale:g}", source, f.path) < rate:
            plant = _plant_ledger if source == "plan_ledger" else _plant_report
            turn += plant(f, kinds[turn % len(kinds)])
        yield f


def _runs(rows: list[int]) -> list[list[int]]:
    """Runs of consecutive numbers: [3, 4, 5, 8] -> [[3, 4, 5], [8]]."""
    out: list[list[int]] = []
    for n in rows:
        if out and out[-1][-1] + 1 == n:
            out[-1].append(n)
        else:
            out.append([n])
    return out


def _plant_report(f: DropFile, kind: str) -> bool:
    """Make `f` carry `kind`; False if it cannot (it is then left as it was)."""
    good = [i for i, r in enumerate(f.reports) if r.bad is None]
    if kind in ("formula_no_cache", "month_year_typo", "month_before_plan") and not good:
        return False
    if kind == "merged_cells":
        _, where = report_layout(f)
        by_row = {where[id(f.reports[i])]: i for i in good}
        run = next((r for r in _runs(sorted(by_row)) if len(r) >= 2), None)
        if run is None:
            return False
        f.defect_rows = tuple(by_row[n] for n in run[:3])
    elif kind in ("formula_no_cache", "month_year_typo", "month_before_plan"):
        f.defect_rows = (good[-1],)
        r = f.reports[good[-1]]
        if kind == "month_year_typo":
            r.month = date(r.month.year + 1, r.month.month, 1)
        elif kind == "month_before_plan":
            r.month = date(2019, r.month.month, 1)
    # a CSV error needs a CSV, the workbook kinds an xlsx (the month typos keep the file's format)
    if kind not in ("month_year_typo", "month_before_plan"):
        want_xlsx = kind != "csv_error"
        if (f.form["fmt"] == "xlsx") != want_xlsx:
            style = f.form["month_style"]
            fmt = "xlsx" if want_xlsx else "csv-utf8"
            f.form = {**f.form, "fmt": fmt, "month_style": "iso" if style == "excel" else style}
            f.path = f.path.rsplit(".", 1)[0] + (".xlsx" if want_xlsx else ".csv")
    f.defect = kind
    if kind in REJECTING:
        f.rejected, f.rejected_category = REJECTING[kind], kind
    return True


def _plant_ledger(f: DropFile, kind: str) -> bool:
    good = [i for i, row in enumerate(f.ledger) if row[6] is None]
    if kind in ("formula_no_cache", "date_year_typo", "date_before_plan") and not good:
        return False
    if kind == "merged_cells":
        run = next((r for r in _runs(good) if len(r) >= 2), None)
        if run is None:
            return False
        f.defect_rows = tuple(run[:3])
    elif kind in ("formula_no_cache", "date_year_typo", "date_before_plan"):
        i = good[-1]
        f.defect_rows = (i,)
        measure, metric, region, d, value, note, bad = f.ledger[i]
        if kind == "date_year_typo":
            d = date(d.year + 1, d.month, min(d.day, 28) if d.month == 2 else d.day)
        elif kind == "date_before_plan":
            d = date(2019, d.month, min(d.day, 28) if d.month == 2 else d.day)
        f.ledger = [*f.ledger[:i], (measure, metric, region, d, value, note, bad), *f.ledger[i + 1 :]]
    f.defect = kind
    if kind in REJECTING:
        f.rejected, f.rejected_category = REJECTING[kind], kind
    return True
