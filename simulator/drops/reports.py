"""S4, the rural-centre monthly reports: which files are uploaded for a month, and their bytes."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

from simulator import compound_file, scipop, workbook
from simulator.drops.files import DropFile, Report, next_month
from simulator.workbook import Sheet
from simulator.world import WorldConfig, beijing_epoch, county_by_code

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
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
REPORT_INSTRUCTIONS = (
    "填表说明",
    "1. 每所学校每月填报一行；报告月份写作 2020-08 或 2020年8月。",
    "2. 开放天数为 0–31 的整数，接待人次、活动次数填写整数。",
    "3. 设备完好率可写 95% 或 0.95。",
    "4. 数据请填写在第二个工作表“月报”中，本页不录入数据。",
)


def report_files(cfg: WorldConfig, month: date) -> list[DropFile]:
    """Every file uploaded for one report month (corrections and broken files included)."""
    rng = cfg.rng("reports", month.isoformat())
    month_end = next_month(month) - timedelta(days=1)
    end_epoch = beijing_epoch(month_end, 23, 59)
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
    submit_day = next_month(month)
    for code in sorted(by_county):
        county = county_by_code()[code]
        reports = by_county[code]
        groups = [reports] if rng.random() < 0.6 else [[r] for r in reports]
        for i, group in enumerate(groups):
            form = draw_form(rng, i)
            when = beijing_epoch(submit_day + timedelta(days=rng.randint(0, 9)), rng.randint(8, 18), rng.randint(0, 59))
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
                form2 = draw_form(rng, 1)
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
        form = {**draw_form(rng, 1), "fmt": "csv-utf8", "title_rows": 0, "broken_header": True}
        when = beijing_epoch(submit_day + timedelta(days=rng.randint(0, 9)), 20, 30)
        f = DropFile(f"{folder}/{cid}_月报.csv", when, form, [r], rejected="header 开放天数 missing (misspelt 开放天)")
        f.rejected_category = "broken_header"
        files.append(f)
    # A report month is not a report time: the files of every month are in submission order.
    return sorted(files, key=lambda f: (f.submitted, f.path))


def draw_form(rng, i: int) -> dict:
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


def report_cells(rep: Report, form: dict) -> list:
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


def report_layout(f: DropFile) -> tuple[list[list], dict]:
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
        rows.append(report_cells(rep, form))
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
    rows, where = report_layout(f)
    sheet = Sheet("月报", rows, title_rows=f.form["title_rows"])
    if f.defect == "merged_cells":
        first, last = where[id(f.reports[f.defect_rows[0]])], where[id(f.reports[f.defect_rows[-1]])]
        sheet.merges.append(f"C{first}:C{last}")  # 所属县区
    elif f.defect == "formula_no_cache":
        row = where[id(f.reports[f.defect_rows[0]])]
        rows[row - 1][HEADERS.index("接待公众人次")] = report_formula(row)
    return sheet


def report_formula(row: int) -> str:
    return f"=ROUND(F{row}*0.6,0)"  # 接待公众人次 from 接待学生人次: Excel would compute it, openpyxl cannot


def render_report(f: DropFile) -> bytes:
    if f.defect == "zip_bomb":
        return workbook.zip_bomb("月报", HEADERS, (), f.path.encode())
    if f.form["fmt"] != "xlsx":
        return _report_csv(f)
    sheet = _report_sheet(f)
    if f.defect == "instructions_sheet":
        data = workbook.xlsx([Sheet("填表说明", [[line] for line in REPORT_INSTRUCTIONS]), sheet])
    elif f.defect == "hidden_sheet":
        stale = DropFile(f.path, f.submitted, f.form, _stale(f.reports))
        stale_rows, _ = report_layout(stale)
        data = workbook.xlsx([Sheet("月报(上月)", stale_rows, f.form["title_rows"], hidden=True), sheet])
    else:
        data = workbook.xlsx([sheet])
    if f.defect == "corrupt":
        return workbook.truncated(data)
    if f.defect == "unreadable_cell":
        _, where = report_layout(f)
        last = f.reports[-1]
        return workbook.with_unreadable_cell(data, 1, f"D{where[id(last)]}", f"{last.month.year}-13-01")
    if f.defect == "encrypted":
        return compound_file.encrypted_workbook(data)
    return data


def _report_csv(f: DropFile) -> bytes:
    rows, where = report_layout(f)
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
