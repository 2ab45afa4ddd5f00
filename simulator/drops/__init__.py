"""S4 and S5, the spreadsheet drop folders: rural-centre monthly reports and the plan ledger.

    python -m simulator drops --incoming DIR --seed 42 --scale 1 --clock 2021-06-30T23:59:59+08:00 \
        [--faults rural_centre_reports:broken=0.05 --faults plan_ledger:broken=0.2]

writes every file submitted by the clock (and removes the simulator's files that are not yet
due, so moving the clock back works too):

- `<incoming>/rural_centre_reports/<YYYY-MM>/<name>.xlsx|.csv`: the report for month M is
  uploaded on day 1–10 of M+1, by a county bureau (all its centres) or by one school, in
  every messy form sources.md lists (see `reports.draw_form`); now and then a corrected file follows
  later in the same month, a file has a broken header, or a row has an impossible value.
- `<incoming>/plan_ledger/<name>.xlsx`: a workbook a month (sheets 台账 and 目标), which
  also re-states a few rows of the month before with corrected values.

Newest-file rule: the file submitted later is written later (files are written in
submission order, each renamed into place complete, so the pipeline receives them in that
order), and its mtime is its submission time (set with os.utime); ties never happen. File bytes are a pure function of (seed,
scale, faults): fixed workbook properties and zip entry timestamps.

The `broken=rate` drop fault (per source, off by default) turns a share of the files
(stable hash of the path) into broken or awkward ones; the chosen files take the kinds of
`REPORT_DEFECTS` / `LEDGER_DEFECTS` in turn, in submission order (a kind a file cannot
carry — merged cells need two good adjacent rows — waits for the next chosen file):

| kind | what the file is | what a correct pipeline does |
| --- | --- | --- |
| `corrupt` | an xlsx cut off half way (not a readable zip) | rejects the file |
| `unreadable_cell` | an xlsx that opens, but the last data row's date cell (报告月份 / 日期) is an ISO-date cell holding `YYYY-13-01`: openpyxl (read-only) raises ValueError when it reaches that row | rejects the file |
| `csv_error` (S4) | a CSV whose last row is cut inside a quoted field, then 150,000 NUL bytes: `csv` raises `_csv.Error` (field larger than field limit) | rejects the file |
| `zip_bomb` | an xlsx (~0.5 MB) whose first sheet's XML inflates to 256 MiB (17 M cells) | rejects the file without inflating it |
| `encrypted` | an OLE2/CFB file with `EncryptionInfo` + `EncryptedPackage` streams, as Excel saves a password-protected workbook (`simulator/compound_file.py`) | rejects the file |
| `instructions_sheet` | first sheet 填表说明 (instructions, no header), the data on the second sheet | loads the second sheet |
| `hidden_sheet` | a hidden first sheet with stale figures (last month's, same header), the real data on the visible second sheet | loads the visible sheet |
| `merged_cells` | 所属县区 (S4) / 措施编号 (S5) merged down over 2–3 good data rows: the rows below the first read empty | quarantines those rows ("merged cell"), loads the rest |
| `formula_no_cache` | one data cell (接待公众人次 / 数值) is a formula with no cached value (data_only → None) | quarantines that row ("formula without a cached value") |
| `month_year_typo` / `date_year_typo` | one row's 报告月份 / 日期 a year late (2021 for 2020) | R5 / R6: quarantined while that month is after the as-of month |
| `month_before_plan` / `date_before_plan` | one row's 报告月份 / 日期 in 2019 | R5 / R6: quarantined |

Two more drop faults change how a file arrives, never what it holds (the truth is the same):

- `names=rate`: a share of the files (stable hash of the path) is written under a hostile
  name, the kinds of `HOSTILE_NAMES` in turn: GBK bytes (a report copied from a Windows
  share), a Latin-1 byte, a newline, a leading `-rf `, a right-to-left override, a name of
  ~240 bytes. `disk_name(f, faults)` is the name's bytes.
- `old_mtime=rate`: a share of the files gets a modification time of 2019-01-01 (a sender's
  PC whose clock is years off; copies and unzipping keep it). The file is still written in
  its turn, so a pipeline that orders versions by reception gets them right and one that
  orders by mtime lets a correction lose to the original.

What tests can ask (`plan.py`): `drop_plan(cfg, clock, faults)` — every due file (its defect kind and
the sheet its data is on), the files rejected whole (path, category, reason) and every
quarantined row (path, sheet, row number as a person sees it, column header, value,
category, reason, and `rule` R5/R6 for the rules applied at staging). `planted_bad_rows`
and `rejected_files` are the same as plain tuples. The truth (`accepted_reports`,
`ledger_rows`) leaves out exactly those, and applies quarantine rules R5/R6 at the clock:
a report month or ledger date outside [2020-07, the clock's month], and a report of a
centre the pipeline's S1 registry does not hold at the clock (not yet served, or stripped
of a required field by the S1 `missing` fault). A quarantined row does not replace an
older file's row for the same key (it never reaches the raw layer).

Modules: `files` (what a drop file holds), `reports` (S4), `ledger` (S5), `defects` (the
`broken` fault), `disk` (names, mtimes, writing the folders), `plan` (what tests and the
truth ask). The names callers use are re-exported here.
"""

from __future__ import annotations

from simulator.drops.defects import LEDGER_DEFECTS, REJECTING, REPORT_DEFECTS
from simulator.drops.disk import HOSTILE_NAMES, OLD_MTIME, all_files, disk_mtime, disk_name, render, write_drops
from simulator.drops.files import FIRST_MONTH, LAST_MONTH, DropFile, Report, months
from simulator.drops.ledger import LEDGER_METRICS, ledger_files
from simulator.drops.plan import (
    DropPlan,
    FileInfo,
    QuarantinedRow,
    RejectedFile,
    accepted_reports,
    drop_plan,
    due_files,
    ledger_rows,
    planted_bad_rows,
    registry_centres,
    rejected_files,
)
from simulator.drops.reports import report_cells, report_files, report_layout

__all__ = [
    "FIRST_MONTH",
    "HOSTILE_NAMES",
    "LAST_MONTH",
    "LEDGER_DEFECTS",
    "LEDGER_METRICS",
    "OLD_MTIME",
    "REJECTING",
    "REPORT_DEFECTS",
    "DropFile",
    "DropPlan",
    "FileInfo",
    "QuarantinedRow",
    "RejectedFile",
    "Report",
    "accepted_reports",
    "all_files",
    "disk_mtime",
    "disk_name",
    "drop_plan",
    "due_files",
    "ledger_files",
    "ledger_rows",
    "months",
    "planted_bad_rows",
    "registry_centres",
    "rejected_files",
    "render",
    "report_cells",
    "report_files",
    "report_layout",
    "write_drops",
]
