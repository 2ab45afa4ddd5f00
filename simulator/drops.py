"""S4 and S5, the spreadsheet drop folders: rural-centre monthly reports and the plan ledger.

    python -m simulator drops --incoming DIR --seed 42 --scale 1 --clock 2021-06-30T23:59:59+08:00

writes every file submitted by the clock (and removes the simulator's files that are not yet
due, so moving the clock back works too):

- `<incoming>/rural_centre_reports/<YYYY-MM>/<name>.xlsx|.csv`: the report for month M is
  uploaded on day 1–10 of M+1, by a county bureau (all its centres) or by one school, in
  every messy form sources.md lists (see `FORMS`); now and then a corrected file follows
  later in the same month, a file has a broken header, or a row has an impossible value.
- `<incoming>/plan_ledger/<name>.xlsx`: a workbook a month (sheets 台账 and 目标), which
  also re-states a few rows of the month before with corrected values.

Newest-file rule: a file's mtime is its submission time (set with os.utime), and a later
submission has a later mtime; ties never happen. File bytes are a pure function of (seed,
scale): fixed workbook properties and zip entry timestamps.

Planted defects are exposed for tests: `planted_bad_rows(cfg, clock)` lists (relative path,
row number as a person sees it, column header, value, reason) and `rejected_files(cfg,
clock)` the files rejected whole. The truth (`accepted_reports`, `ledger_rows`) leaves both out.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from simulator import scipop
from simulator.world import WORLD_END, WorldConfig, counties, county_by_code, to_epoch

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
FIXED_TIME = datetime(2020, 1, 1)
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


def _render_report(f: DropFile) -> bytes:
    rows, _ = _report_layout(f)
    if f.form["fmt"] == "xlsx":
        return _xlsx({"月报": rows}, merge_titles=f.form["title_rows"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for r in rows:
        w.writerow(["" if c is None else c for c in r])
    text = buf.getvalue()
    encoding = {"csv-utf8": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gbk"}[f.form["fmt"]]
    return text.encode(encoding)


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


def _render_ledger(f: DropFile) -> bytes:
    acts = [["措施编号", "指标代码", "地区代码", "日期", "数值", "说明"]]
    acts += [
        [measure, metric, region, datetime(d.year, d.month, d.day), value, note]
        for measure, metric, region, d, value, note, _ in f.ledger
    ]
    targets = [["指标代码", "地区代码", "目标值", "截止日期"]]
    targets += [[mid, reg, val, datetime.fromisoformat(dl)] for mid, reg, val, dl in f.targets]
    return _xlsx({"台账": acts, "目标": targets}, merge_titles=0)


# --- writing --------------------------------------------------------------------------------
def _xlsx(sheets: dict[str, list[list]], merge_titles: int) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
        for i in range(1, merge_titles + 1):
            ws.merge_cells(start_row=i, start_column=1, end_row=i, end_column=len(rows[merge_titles]))
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd"
    wb.properties.creator = "plan-sim"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Same workbook, same bytes: fixed entry timestamps and core-properties dates."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def all_files(cfg: WorldConfig) -> Iterator[DropFile]:
    for m in months():
        yield from report_files(cfg, m)
    yield from ledger_files(cfg)


def render(f: DropFile) -> bytes:
    return _render_ledger(f) if f.path.startswith("plan_ledger/") else _render_report(f)


def write_drops(cfg: WorldConfig, incoming: Path, clock: int) -> list[str]:
    """Write every file submitted by `clock`; remove the simulator's files not yet due."""
    incoming = Path(incoming)
    written = []
    for f in all_files(cfg):
        target = incoming / f.path
        if f.submitted > clock:
            target.unlink(missing_ok=True)
            continue
        data = render(f)
        if not target.exists() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        os.utime(target, (f.submitted, f.submitted))
        written.append(f.path)
    return written


# --- what tests and the truth need ------------------------------------------------------------
def due_files(cfg: WorldConfig, clock: int) -> list[DropFile]:
    return [f for f in all_files(cfg) if f.submitted <= clock]


def planted_bad_rows(cfg: WorldConfig, clock: int) -> list[tuple[str, int, str, str, str]]:
    """(relative path, row number as a person sees it, column header, value, reason)."""
    out = []
    for f in due_files(cfg, clock):
        if f.rejected:
            continue
        if f.ledger:
            for i, row in enumerate(f.ledger, start=2):
                if row[6] is not None:
                    out.append((f.path, i, *row[6]))
            continue
        _, where = _report_layout(f)
        out += [(f.path, where[id(r)], *r.bad) for r in f.reports if r.bad]
    return out


def rejected_files(cfg: WorldConfig, clock: int) -> list[tuple[str, str]]:
    """(relative path, reason) of files rejected whole."""
    return [(f.path, f.rejected) for f in due_files(cfg, clock) if f.rejected]


def accepted_reports(cfg: WorldConfig, clock: int) -> dict[tuple[str, str], Report]:
    """{(centre_id, 'YYYY-MM-01'): report} a correct pipeline accepts: newest file wins."""
    out: dict[tuple[str, str], Report] = {}
    files = [f for f in due_files(cfg, clock) if f.path.startswith("rural_centre_reports/") and not f.rejected]
    for f in sorted(files, key=lambda f: (f.submitted, f.path)):
        for r in f.reports:
            if r.bad is None:
                out[(r.centre_id, r.month.isoformat())] = r
    return out


def ledger_rows(cfg: WorldConfig, clock: int) -> tuple[dict, dict]:
    """(activities {(metric, region, date): value}, targets {(metric, region): (value, deadline)})
    after newer workbooks replace older rows; quarantined rows left out."""
    acts: dict = {}
    targets: dict = {}
    for f in sorted((f for f in ledger_files(cfg) if f.submitted <= clock), key=lambda f: f.submitted):
        for _measure, metric, region, d, value, _note, bad in f.ledger:
            if bad is None:
                acts[(metric, region, d)] = value
        for mid, reg, val, dl in f.targets:
            targets[(mid, reg)] = (val, dl)
    return acts, targets


def world_end_epoch() -> int:
    return to_epoch(WORLD_END)
