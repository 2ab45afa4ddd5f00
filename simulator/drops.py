"""S4 and S5, the spreadsheet drop folders: rural-centre monthly reports and the plan ledger.

    python -m simulator drops --incoming DIR --seed 42 --scale 1 --clock 2021-06-30T23:59:59+08:00 \
        [--faults rural_centre_reports:broken=0.05 --faults plan_ledger:broken=0.2]

writes every file submitted by the clock (and removes the simulator's files that are not yet
due, so moving the clock back works too):

- `<incoming>/rural_centre_reports/<YYYY-MM>/<name>.xlsx|.csv`: the report for month M is
  uploaded on day 1–10 of M+1, by a county bureau (all its centres) or by one school, in
  every messy form sources.md lists (see `FORMS`); now and then a corrected file follows
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

What tests can ask: `drop_plan(cfg, clock, faults)` — every due file (its defect kind and
the sheet its data is on), the files rejected whole (path, category, reason) and every
quarantined row (path, sheet, row number as a person sees it, column header, value,
category, reason, and `rule` R5/R6 for the rules applied at staging). `planted_bad_rows`
and `rejected_files` are the same as plain tuples. The truth (`accepted_reports`,
`ledger_rows`) leaves out exactly those, and applies quarantine rules R5/R6 at the clock:
a report month or ledger date outside [2020-07, the clock's month], and a report of a
centre the pipeline's S1 registry does not hold at the clock (not yet served, or stripped
of a required field by the S1 `missing` fault). A quarantined row does not replace an
older file's row for the same key (it never reaches the raw layer).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from simulator import compound_file, scipop, workbook
from simulator.faults import Faults, missing_field, share
from simulator.workbook import Sheet
from simulator.world import WorldConfig, bj_month, counties, county_by_code

HEADERS = [
    "科技馆编号",
    "学校名称",
    "所属县区",
    "报告月份",
    "开放天数",
    "接待学生人次",
    "接待公众人次",
    "开展科普活动次数",
    "设备完好率",
]
PERSONAL = ["填报人", "联系电话"]
FIRST_MONTH = date(2020, 7, 1)
LAST_MONTH = date(2021, 11, 1)  # December's reports arrive after the end of the world
PLAN_START = date(2020, 7, 1)  # quarantine rules R5/R6: nothing is dated before the plan
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
LEDGER_METRICS = {
    "anxin_aid_person_times": "M03",
    "online_classroom_views": "M04",
    "publicity_items": "M05",
    "literacy_survey_prefectures": "M06",
    "policy_reports": "M07",
    "academic_forums": "M07",
    "think_tank_centres": "M08",
    "intl_exchange_events": "M09",
}
ORDINALS = {"M03": "三", "M04": "四", "M05": "五", "M06": "六", "M07": "七", "M08": "八", "M09": "九"}
TARGETS = [
    ("anxin_aid_person_times", "420000", 200000, "2021-12-31"),
    ("online_classroom_views", "420000", 5000000, "2021-08-31"),
    ("publicity_items", "420000", 600, "2021-12-31"),
    ("literacy_survey_prefectures", "420000", 17, "2021-06-30"),
    ("policy_reports", "420000", 40, "2021-12-31"),
    ("academic_forums", "420000", 80, "2021-12-31"),
    ("think_tank_centres", "420000", 10, "2021-12-31"),
    ("intl_exchange_events", "420000", 30, "2021-12-31"),
    ("anxin_aid_person_times", "420100", 80000, "2021-12-31"),
]


@dataclass
class Report:
    centre_id: str
    school_name: str
    county_code: str
    month: date
    days_open: int
    student_visits: int
    public_visits: int
    activities: int
    equipment: float  # 0..1
    bad: tuple[str, str, str] | None = None  # (header, value as written, reason)


@dataclass
class DropFile:
    path: str  # relative to the drop folder
    submitted: int  # epoch seconds; also the file's mtime
    form: dict
    reports: list[Report] = field(default_factory=list)
    rejected: str | None = None  # reason the whole file is rejected
    ledger: list[tuple] = field(default_factory=list)  # (measure, metric, region, date, value, note, bad)
    targets: list[tuple] = field(default_factory=list)
    rejected_category: str | None = None
    defect: str | None = None  # the kind the `broken` fault planted (REPORT_DEFECTS / LEDGER_DEFECTS)
    defect_rows: tuple[int, ...] = ()  # indices into reports / ledger the defect touches

    @property
    def source(self) -> str:
        return "plan_ledger" if self.path.startswith("plan_ledger/") else "rural_centre_reports"

    @property
    def sheet(self) -> str | None:
        """The sheet holding the data (the activities sheet of a ledger); None for a CSV."""
        if self.source == "plan_ledger":
            return "台账"
        return "月报" if self.form["fmt"] == "xlsx" else None

    @property
    def sheet_index(self) -> int | None:
        """0-based position of `sheet` in the workbook (behind an instructions or hidden sheet: 1)."""
        if self.sheet is None:
            return None
        return 1 if self.defect in ("instructions_sheet", "hidden_sheet") else 0


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


def months() -> Iterator[date]:
    m = FIRST_MONTH
    while m <= LAST_MONTH:
        yield m
        m = _next_month(m)


def _next_month(m: date) -> date:
    return date(m.year + m.month // 12, m.month % 12 + 1, 1)


def _at(d: date, hour: int, minute: int) -> int:
    return scipop.at(d, hour, minute)


# --- S4: rural centre reports ------------------------------------------------------------
def report_files(cfg: WorldConfig, month: date) -> list[DropFile]:
    """Every file uploaded for one report month (corrections and broken files included)."""
    rng = cfg.rng("reports", month.isoformat())
    month_end = _next_month(month) - timedelta(days=1)
    end_epoch = _at(month_end, 23, 59)
    by_county: dict[str, list[Report]] = {}
    silent: list[tuple[str, str, str]] = []
    for n in range(1, cfg.count(scipop.CENTRES_AT_SF1) + 1):
        story = scipop.centre_story(cfg, n)
        body = story[0].body
        if body["opened_on"] > month_end.isoformat() or scipop.status_on(story, end_epoch) != "active":
            continue
        r = cfg.rng("report", n, month.isoformat())
        if r.random() > 0.85:
            silent.append((body["centre_id"], body["school_name"], body["county_code"]))
            continue
        by_county.setdefault(body["county_code"], []).append(
            Report(
                body["centre_id"],
                body["school_name"],
                body["county_code"],
                month,
                r.randint(6, 28),
                r.randint(40, 2600),
                r.randint(0, 1600),
                r.randint(1, 12),
                round(r.uniform(0.8, 1.0), 2),
            )
        )
    files: list[DropFile] = []
    folder = f"rural_centre_reports/{month:%Y-%m}"
    submit_day = _next_month(month)
    for code in sorted(by_county):
        county = county_by_code()[code]
        reports = by_county[code]
        groups = [reports] if rng.random() < 0.6 else [[r] for r in reports]
        for i, group in enumerate(groups):
            form = _form(rng, i)
            when = _at(submit_day + timedelta(days=rng.randint(0, 9)), rng.randint(8, 18), rng.randint(0, 59))
            ext = "xlsx" if form["fmt"] == "xlsx" else "csv"
            name = (
                f"{county.name}农村中学科技馆{month.year}年{month.month}月运行月报.{ext}"
                if len(groups) == 1
                else f"{group[0].centre_id}_{group[0].school_name}_{month:%Y%m}.{ext}"
            )
            f = DropFile(f"{folder}/{name}", when, form, group)
            files.append(f)
            if rng.random() < 0.12:  # a corrected file later in the month: the newest wins
                fixed = [
                    Report(**{**r.__dict__, "student_visits": r.student_visits + rng.randint(1, 300)}) for r in group
                ]
                later = when + rng.randint(5, 15) * 86400
                form2 = _form(rng, 1)
                ext2 = "xlsx" if form2["fmt"] == "xlsx" else "csv"
                files.append(DropFile(f"{folder}/{name.rsplit('.', 1)[0]}_更正版.{ext2}", later, form2, fixed))
            elif rng.random() < 0.1:  # one impossible value: that row is quarantined
                victim = rng.choice(group)
                kind = rng.choice(("negative", "days", "county"))
                if kind == "negative":
                    victim.student_visits = -victim.student_visits
                    victim.bad = ("接待学生人次", str(victim.student_visits), "negative value")
                elif kind == "days":
                    victim.days_open = rng.randint(32, 45)
                    victim.bad = ("开放天数", str(victim.days_open), "more than 31 days open")
                else:
                    victim.bad = ("所属县区", "新城区", "unknown county")
            elif rng.random() < 0.05:  # a school that is not in the registry
                ghost = Report("RC9" + f"{rng.randint(0, 9999):04d}", "未登记中学", code, month, 10, 100, 50, 2, 0.9)
                ghost.bad = ("科技馆编号", ghost.centre_id, "unknown centre")
                group.append(ghost)
    if silent and rng.random() < 0.35:  # a broken header: the whole file is rejected
        cid, school, code = rng.choice(silent)
        r = Report(cid, school, code, month, 12, 300, 100, 3, 0.9)
        form = {**_form(rng, 1), "fmt": "csv-utf8", "title_rows": 0, "broken_header": True}
        when = _at(submit_day + timedelta(days=rng.randint(0, 9)), 20, 30)
        f = DropFile(f"{folder}/{cid}_月报.csv", when, form, [r], rejected="header 开放天数 missing (misspelt 开放天)")
        f.rejected_category = "broken_header"
        files.append(f)
    # A report month is not a report time: the files of every month are in submission order.
    return sorted(files, key=lambda f: (f.submitted, f.path))


def _form(rng, i: int) -> dict:
    fmt = rng.choice(("xlsx", "xlsx", "csv-utf8", "csv-bom", "csv-gbk"))
    return {
        "fmt": fmt,
        "title_rows": rng.choice((0, 1, 2)),
        "fullwidth": rng.random() < 0.2,
        "thousands": rng.random() < 0.3,
        "total_row": rng.random() < 0.4,
        "blank_rows": rng.random() < 0.3,
        "county_as_name": rng.random() < 0.4,
        "month_style": rng.choice(("iso", "zh", "slash", "excel") if fmt == "xlsx" else ("iso", "zh", "slash")),
        "pct_style": rng.choice(("percent", "fraction", "number")),
        "personal": rng.random() < 0.5,
        "broken_header": False,
    }


def _cells(rep: Report, form: dict) -> list:
    """A report row as the file shows it (strings or numbers, per the file's form)."""

    def num(v: int):
        if form["thousands"] and abs(v) >= 1000:
            text = f"{v:,}"
        elif form["fullwidth"] or form["fmt"] != "xlsx":
            text = str(v)
        else:
            return v
        return text.translate(FULL_WIDTH) if form["fullwidth"] else text

    county = county_by_code().get(rep.county_code)
    county_text = county.name if form["county_as_name"] and county else rep.county_code
    if rep.bad and rep.bad[0] == "所属县区":
        county_text = rep.bad[1]
    m = rep.month
    month = {
        "iso": f"{m:%Y-%m}",
        "zh": f"{m.year}年{m.month}月",
        "slash": f"{m.year}/{m.month}",
        "excel": datetime(m.year, m.month, 1),
    }[form["month_style"]]
    pct = {
        "percent": f"{round(rep.equipment * 100)}%",
        "fraction": rep.equipment,
        "number": round(rep.equipment * 100),
    }[form["pct_style"]]
    if form["fmt"] != "xlsx" and not isinstance(pct, str):
        pct = str(pct)
    row = [rep.centre_id, rep.school_name, county_text, month, num(rep.days_open)]
    row += [num(rep.student_visits), num(rep.public_visits), num(rep.activities), pct]
    if form["personal"]:
        row += ["张老师", f"1{3 + len(rep.centre_id) % 6}{int(rep.centre_id[2:]) * 7919 % 10**9:09d}"]
    return row


def _report_layout(f: DropFile) -> tuple[list[list], dict]:
    """All rows of a report file (title rows, header, data, blanks, total) and where each
    report landed: {id(report): 1-based row number}."""
    form = f.form
    width = len(HEADERS) + (2 * form["personal"])
    rows: list[list] = []
    for t in range(form["title_rows"]):
        rows.append([("农村中学科技馆运行月报" if t == 0 else "填报单位：县教育局（盖章）")] + [None] * (width - 1))
    header = HEADERS + (PERSONAL if form["personal"] else [])
    if form["broken_header"]:
        header = [("开放天" if h == "开放天数" else h) for h in header]
    rows.append(header)
    where = {}
    for k, rep in enumerate(f.reports):
        if form["blank_rows"] and k == 1:
            rows.append([None] * width)
        rows.append(_cells(rep, form))
        where[id(rep)] = len(rows)
    if form["total_row"] and len(f.reports) > 0:
        good = f.reports
        total = [
            "合计",
            None,
            None,
            None,
            None,
            sum(r.student_visits for r in good),
            sum(r.public_visits for r in good),
        ]
        total += [sum(r.activities for r in good), None]
        rows.append(total + [None] * (width - len(total)))
    if form["blank_rows"]:
        rows.append([None] * width)
    return rows, where


def _report_sheet(f: DropFile) -> Sheet:
    """The report sheet as the form and the planted defect (merged cells, a formula) lay it out."""
    rows, where = _report_layout(f)
    sheet = Sheet("月报", rows, title_rows=f.form["title_rows"])
    if f.defect == "merged_cells":
        first, last = where[id(f.reports[f.defect_rows[0]])], where[id(f.reports[f.defect_rows[-1]])]
        sheet.merges.append(f"C{first}:C{last}")  # 所属县区
    elif f.defect == "formula_no_cache":
        row = where[id(f.reports[f.defect_rows[0]])]
        rows[row - 1][HEADERS.index("接待公众人次")] = _report_formula(row)
    return sheet


def _report_formula(row: int) -> str:
    return f"=ROUND(F{row}*0.6,0)"  # 接待公众人次 from 接待学生人次: Excel would compute it, openpyxl cannot


def _render_report(f: DropFile) -> bytes:
    if f.defect == "zip_bomb":
        return workbook.zip_bomb("月报", HEADERS, (), f.path.encode())
    if f.form["fmt"] != "xlsx":
        return _report_csv(f)
    sheet = _report_sheet(f)
    if f.defect == "instructions_sheet":
        data = workbook.xlsx([Sheet("填表说明", [[line] for line in REPORT_INSTRUCTIONS]), sheet])
    elif f.defect == "hidden_sheet":
        stale = DropFile(f.path, f.submitted, f.form, _stale(f.reports))
        stale_rows, _ = _report_layout(stale)
        data = workbook.xlsx([Sheet("月报(上月)", stale_rows, f.form["title_rows"], hidden=True), sheet])
    else:
        data = workbook.xlsx([sheet])
    if f.defect == "corrupt":
        return workbook.truncated(data)
    if f.defect == "unreadable_cell":
        _, where = _report_layout(f)
        last = f.reports[-1]
        return workbook.with_unreadable_cell(data, 1, f"D{where[id(last)]}", f"{last.month.year}-13-01")
    if f.defect == "encrypted":
        return compound_file.encrypted_workbook(data)
    return data


def _report_csv(f: DropFile) -> bytes:
    rows, where = _report_layout(f)
    encoding = {"csv-utf8": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gbk"}[f.form["fmt"]]
    cut = where[id(f.reports[-1])] if f.defect == "csv_error" else None
    text = _csv_text(rows[: cut - 1] if cut else rows)
    if cut:
        last = f.reports[-1]
        text = workbook.csv_cut_in_a_quote(text, f"{last.centre_id},")
    return text.encode(encoding)


def _csv_text(rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for r in rows:
        w.writerow(["" if c is None else c for c in r])
    return buf.getvalue()


def _stale(reports: list[Report]) -> list[Report]:
    """What a hidden sheet left over from last month holds: the same schools, other figures."""
    out = []
    for r in reports:
        month = date(r.month.year - (r.month.month == 1), (r.month.month - 2) % 12 + 1, 1)
        out.append(
            Report(
                **{
                    **r.__dict__,
                    "month": month,
                    "student_visits": r.student_visits + 37,
                    "public_visits": r.public_visits + 11,
                    "bad": None,
                }
            )
        )
    return out


# --- S5: the plan ledger --------------------------------------------------------------------
def ledger_files(cfg: WorldConfig) -> list[DropFile]:
    """One workbook a month; each re-states a few rows of the month before, corrected."""
    out: list[DropFile] = []
    previous: list[tuple] = []
    for m in months():
        rng = cfg.rng("ledger", m.isoformat())
        rows = _ledger_month(cfg, rng, m)
        fixes = []
        for row in rng.sample(previous, min(len(previous), 3)) if previous else []:
            if row[6] is None:
                fixes.append((row[0], row[1], row[2], row[3], row[4] + rng.randint(1, 9), "更正", None))
        targets = [
            (mid, reg, val * (1.2 if mid == "anxin_aid_person_times" and m >= date(2021, 3, 1) else 1), dl)
            for mid, reg, val, dl in TARGETS
        ]
        when = _at(_next_month(m) + timedelta(days=rng.randint(4, 11)), 17, rng.randint(0, 59))
        name = f"plan_ledger/一揽子计划实施台账_{m.year}年{m.month:02d}月.xlsx"
        out.append(DropFile(name, when, {"fmt": "xlsx"}, ledger=fixes + rows, targets=targets))
        previous = rows
    return out


def _ledger_month(cfg: WorldConfig, rng, m: date) -> list[tuple]:
    last = (_next_month(m) - timedelta(days=1)).day
    prefectures = sorted({c.prefecture_code for c in counties()})
    all_counties = counties()
    rows: dict[tuple, tuple] = {}

    def add(metric: str, region: str, value: float, note: str = "", bad: tuple | None = None) -> None:
        d = date(m.year, m.month, rng.randint(1, last))
        measure = LEDGER_METRICS.get(metric, "M03")
        if rng.random() < 0.4:
            measure = ORDINALS[measure]
        rows.setdefault((metric, region, d), (measure, metric, region, d, value, note, bad))

    for _ in range(cfg.count(6)):
        add("anxin_aid_person_times", rng.choice(all_counties).code, rng.randint(20, 3000), "心理援助热线及线下服务")
    if m.month in (7, 8, 9):
        for _ in range(cfg.count(3)):
            add(
                "online_classroom_views", rng.choice(["420000", *prefectures]), rng.randint(10_000, 500_000), "网上课堂"
            )
    for _ in range(cfg.count(3)):
        add("publicity_items", rng.choice(prefectures), rng.randint(1, 20), "科技抗疫精神宣传")
    if date(2020, 10, 1) <= m <= date(2021, 6, 1):
        for _ in range(cfg.count(3)):
            c = rng.choice(all_counties)
            add(
                "literacy_survey_prefectures",
                rng.choice((c.code, c.prefecture_code)),
                rng.choice((1, 1, 1, 0)),
                "公民科学素质调查",
            )
    if rng.random() < 0.7:
        add("policy_reports", "420000", rng.randint(1, 4), "专报、《科技工作者建议》")
    for _ in range(cfg.count(2)):
        add("academic_forums", rng.choice(prefectures), rng.randint(1, 3), "学术论坛")
    if rng.random() < 0.25:
        add("think_tank_centres", rng.choice(("420100", "420500", "420600", "421200")), 1, "高校智库中心挂牌")
    if rng.random() < 0.5:
        add("intl_exchange_events", rng.choice(("420000", "420100")), rng.randint(1, 3), "对外民间科技交流")
    if rng.random() < 0.3:  # a row the pipeline must quarantine
        add("publicity_items", "429999", 3, "地区代码错误", bad=("地区代码", "429999", "unknown region code"))
    return sorted(rows.values(), key=lambda r: (r[3], r[1], r[2]))


LEDGER_HEADER = ["措施编号", "指标代码", "地区代码", "日期", "数值", "说明"]
TARGET_HEADER = ["指标代码", "地区代码", "目标值", "截止日期"]


def _ledger_sheets(f: DropFile, ledger: list[tuple]) -> tuple[Sheet, Sheet]:
    acts = [LEDGER_HEADER]
    acts += [
        [measure, metric, region, datetime(d.year, d.month, d.day), value, note]
        for measure, metric, region, d, value, note, _ in ledger
    ]
    targets = [TARGET_HEADER]
    targets += [[mid, reg, val, datetime.fromisoformat(dl)] for mid, reg, val, dl in f.targets]
    return Sheet("台账", acts), Sheet("目标", targets)


def _ledger_formula(value) -> str:
    return f"=ROUND({value}*1,0)"


def _render_ledger(f: DropFile) -> bytes:
    if f.defect == "zip_bomb":
        return workbook.zip_bomb("台账", LEDGER_HEADER, ("目标",), f.path.encode())
    acts, targets = _ledger_sheets(f, f.ledger)
    if f.defect == "merged_cells":
        first, last = f.defect_rows[0] + 2, f.defect_rows[-1] + 2
        acts.merges.append(f"A{first}:A{last}")  # 措施编号
    elif f.defect == "formula_no_cache":
        row = f.defect_rows[0] + 2
        acts.rows[row - 1][LEDGER_HEADER.index("数值")] = _ledger_formula(f.ledger[f.defect_rows[0]][4])
    if f.defect == "instructions_sheet":
        data = workbook.xlsx([Sheet("填表说明", [[line] for line in LEDGER_INSTRUCTIONS]), acts, targets])
    elif f.defect == "hidden_sheet":
        stale = [(m, k, r, d, v + 5, note, None) for m, k, r, d, v, note, _ in f.ledger]
        old, _ = _ledger_sheets(f, stale)
        old.title, old.hidden = "台账(旧)", True
        data = workbook.xlsx([old, acts, targets])
    else:
        data = workbook.xlsx([acts, targets])
    if f.defect == "corrupt":
        return workbook.truncated(data)
    if f.defect == "unreadable_cell":
        d = f.ledger[-1][3]
        return workbook.with_unreadable_cell(data, 1, f"D{len(f.ledger) + 1}", f"{d.year}-13-{d.day:02d}")
    if f.defect == "encrypted":
        return compound_file.encrypted_workbook(data)
    return data


# --- the `broken` fault: broken and awkward files -------------------------------------------
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
REPORT_INSTRUCTIONS = (
    "填表说明",
    "1. 每所学校每月填报一行；报告月份写作 2020-08 或 2020年8月。",
    "2. 开放天数为 0–31 的整数，接待人次、活动次数填写整数。",
    "3. 设备完好率可写 95% 或 0.95。",
    "4. 数据请填写在第二个工作表“月报”中，本页不录入数据。",
)
LEDGER_INSTRUCTIONS = (
    "填表说明",
    "1. 工作表“台账”逐条登记活动：措施编号、指标代码、地区代码、日期、数值、说明。",
    "2. 工作表“目标”登记各指标的目标值与截止日期。",
    "3. 本页不录入数据。",
)
MERGED_REASON = "merged cell: the value is in the merged range's first row"
FORMULA_REASON = "formula without a cached value"
_ROW_CATEGORY = {  # the reasons the generators plant -> a stable category
    "negative value": "negative_value",
    "more than 31 days open": "days_open_over_31",
    "unknown county": "unknown_county",
    "unknown centre": "unknown_centre",
    "unknown region code": "unknown_region",
}


def _apply_broken(cfg: WorldConfig, files: Iterator[DropFile], source: str, rate: float) -> Iterator[DropFile]:
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
        _, where = _report_layout(f)
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


# --- writing --------------------------------------------------------------------------------
def all_files(
    cfg: WorldConfig, faults: dict[str, Faults] | None = None, source: str | None = None
) -> Iterator[DropFile]:
    """Every file of both folders (or of `source`), in submission order per folder, with the drop faults."""
    faults = faults or {}

    def reports() -> Iterator[DropFile]:
        for m in months():
            yield from report_files(cfg, m)

    s4, s5 = faults.get("rural_centre_reports"), faults.get("plan_ledger")
    if source in (None, "rural_centre_reports"):
        yield from _apply_broken(cfg, reports(), "rural_centre_reports", s4.broken if s4 else 0.0)
    if source in (None, "plan_ledger"):
        yield from _apply_broken(cfg, iter(ledger_files(cfg)), "plan_ledger", s5.broken if s5 else 0.0)


HOSTILE_NAMES = ("gbk", "latin1", "newline", "dash", "bidi", "long")
OLD_MTIME = 1_546_272_000  # 2019-01-01T00:00:00+08:00


def _hostile_kind(f: DropFile, rate: float) -> str | None:
    if rate <= 0 or share("names", f.path) >= rate:
        return None
    return HOSTILE_NAMES[int(share("names-kind", f.path) * len(HOSTILE_NAMES))]


def disk_name(f: DropFile, faults: dict[str, Faults] | None = None) -> bytes:
    """The bytes of the name the file is written under, relative to the drop folder."""
    s = (faults or {}).get(f.source)
    folder, _, name = f.path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    kind = _hostile_kind(f, s.names if s else 0.0)
    prefix = folder.encode() + b"/"
    if kind == "gbk":
        return prefix + name.encode("gb18030")
    if kind == "latin1":
        return prefix + stem.encode() + b"_r\xe9vis\xe9." + ext.encode()
    if kind == "newline":
        return prefix + f"{stem}\n2021年补报.{ext}".encode()
    if kind == "dash":
        return prefix + f"-rf {name}".encode()
    if kind == "bidi":
        return prefix + f"\u202e{name}".encode()
    if kind == "long":  # 240 bytes or so, cut on a character boundary
        long = stem
        while len((long + "_").encode()) + len(ext) + 1 <= 240:
            long += "_"
        return prefix + f"{long}.{ext}".encode()
    return f.path.encode()


def disk_mtime(f: DropFile, faults: dict[str, Faults] | None = None) -> int:
    s = (faults or {}).get(f.source)
    rate = s.old_mtime if s else 0.0
    return OLD_MTIME if rate > 0 and share("old_mtime", f.path) < rate else f.submitted


def render(f: DropFile) -> bytes:
    return _render_ledger(f) if f.source == "plan_ledger" else _render_report(f)


def write_drops(cfg: WorldConfig, incoming: Path, clock: int, faults: dict[str, Faults] | None = None) -> list[str]:
    """Write every file submitted by `clock`, in submission order; remove the simulator's
    files not yet due."""
    base = os.fsencode(Path(incoming))
    written = []
    for f in all_files(cfg, faults):
        target = base + b"/" + disk_name(f, faults)
        if f.source == "rural_centre_reports":
            # the `broken` fault may have turned a .csv into an .xlsx (or back): drop the other name
            other = b".csv" if target.endswith(b".xlsx") else b".xlsx"
            Path(os.fsdecode(target.rsplit(b".", 1)[0] + other)).unlink(missing_ok=True)
        path = Path(os.fsdecode(target))
        if f.submitted > clock:
            path.unlink(missing_ok=True)
            continue
        data = render(f)
        mtime = disk_mtime(f, faults)
        # A file already there with the same bytes and time is left alone: touching it would
        # change its inode's change time, which is how the pipeline sees a file arrive.
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".sim-" + str(os.getpid()) + ".part")
            tmp.write_bytes(data)
            os.utime(tmp, (mtime, mtime))
            os.replace(tmp, path)
        elif path.stat().st_mtime != mtime:
            os.utime(path, (mtime, mtime))
        written.append(f.path)
    return written


# --- what tests and the truth need ------------------------------------------------------------
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
        _, where = _report_layout(f)
        below = set(f.defect_rows[1:]) if f.defect == "merged_cells" else set()
        for i, r in enumerate(f.reports):
            row = where[id(r)]
            found = None  # (column, value, category, reason, rule)
            if r.bad is not None:
                header, value, reason = r.bad
                category = _ROW_CATEGORY[reason]
                found = (header, value, category, reason, "R5" if category == "unknown_centre" else None)
            elif i in below:
                found = ("所属县区", "", "merged_cell", MERGED_REASON, None)
            elif f.defect == "formula_no_cache" and i in f.defect_rows:
                found = ("接待公众人次", _report_formula(row), "formula_no_cache", FORMULA_REASON, None)
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
                q = QuarantinedRow(f.path, "台账", n, header, text, _ROW_CATEGORY[reason], reason)
            elif i in below:
                q = QuarantinedRow(f.path, "台账", n, "措施编号", "", "merged_cell", MERGED_REASON)
            elif f.defect == "formula_no_cache" and i in f.defect_rows:
                q = QuarantinedRow(
                    f.path, "台账", n, "数值", _ledger_formula(value), "formula_no_cache", FORMULA_REASON
                )
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
