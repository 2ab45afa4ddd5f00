"""填报模板 — one workbook per county for the S4 monthly report, built from the contract.

    python -m extract.templates [--out DIR] [--county CODE ...] [--published PATH]   (make templates)

writes `<DIR>/<county code>_<county name>_农村中学科技馆月报模板.xlsx` for every county with an
active centre in the S1 registry of the published file (default DIR:
`$PLAN_METRICS_DATA_DIR/templates/`); the dashboard's 数据报送 page offers the same workbook
(`county_template`). A template holds:

- sheet 月报: the contract's header exactly (sources.md, `spreadsheets.REPORT_HEADER`) in a
  protected header row, and below it rows with data validation — 科技馆编号 a drop-down of
  the county's active centres (学校名称 filled by a lookup formula), 所属县区 the county, 报告月份
  a list of months (text, `2021-08`), 开放天数 a whole number 0–31, the counts whole numbers
  ≥ 0, 设备完好率 0–100 %. The personal columns (填报人, 联系电话) are left out: the pipeline never
  reads them, so the template does not ask for them.
- sheet 填表说明: what each column must hold, when the report is due, where to send it and
  how to pre-check it.
- a hidden sheet 名录 with the centres and months the lists draw on (hidden sheets are never
  read as data).

A template filled in with a county's reports loads with nothing set aside
(tests/extract/test_templates.py).
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from extract.spreadsheets import REPORT_HEADER
from settings import Settings

DATA_SHEET, HELP_SHEET, LIST_SHEET = "月报", "填表说明", "名录"
PLAN_START = date(2020, 7, 1)
SPARE_ROWS = 20  # empty rows below one per centre
# what each column must hold (the 填表说明 sheet and the validation messages)
HINTS = {
    "科技馆编号": "从下拉列表选择本县科技馆的编号（科普服务平台登记的编号）",
    "学校名称": "选择编号后自动填出，无需填写",
    "所属县区": "从下拉列表选择本县（也可写 6 位区划代码）",
    "报告月份": "从下拉列表选择，或写作 2021-08、2021年8月",
    "开放天数": "0–31 的整数",
    "接待学生人次": "不小于 0 的整数",
    "接待公众人次": "不小于 0 的整数",
    "开展科普活动次数": "不小于 0 的整数",
    "设备完好率": "0–100% 之间，如 95%",
}
COUNTS = ("接待学生人次", "接待公众人次", "开展科普活动次数")


@dataclass(frozen=True)
class Centre:
    centre_id: str
    school_name: str
    county_code: str


def published_registry(path: Path, settings: Settings) -> tuple[list[dict], date | None]:
    """The published S1 registry (metrics.rural_centre_registry) and the publish's as-of day,
    read-only through an in-memory DuckDB; ([], None) when the file has neither."""
    from settings import duck

    if not Path(path).exists():
        return [], None
    with duck.connect(":memory:", settings) as conn:
        conn.execute(f"attach '{path}' as published (read_only)")
        tables = {r[0] for r in conn.execute("show tables from published.metrics").fetchall()}
        rows = []
        if "rural_centre_registry" in tables:
            cur = conn.execute(
                "select centre_id, school_name, county_code, opened_on, status, is_active "
                "from published.metrics.rural_centre_registry order by centre_id"
            )
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        as_of = None
        if "publish_context" in tables:
            found = conn.execute("select as_of_date from published.metrics.publish_context").fetchone()
            as_of = found[0] if found else None
    return rows, as_of


def months_until(as_of: date) -> list[str]:
    """'YYYY-MM' from the as-of month back to the plan's first month, newest first."""
    out, m = [], date(as_of.year, as_of.month, 1)
    while m >= PLAN_START:
        out.append(f"{m:%Y-%m}")
        m = date(m.year - (m.month == 1), (m.month - 2) % 12 + 1, 1)
    return out


def _column(header: str) -> str:
    return "ABCDEFGHIJ"[REPORT_HEADER.index(header)]


def _validations(ws, centres: int, months: int, county_name: str, last: int) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    def add(header: str, message: str, **kw) -> None:
        dv = DataValidation(
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="填写有误",
            error=f"{header}：{message}",
            showInputMessage=True,
            promptTitle=header,
            prompt=message,
            **kw,
        )
        col = _column(header)
        dv.add(f"{col}2:{col}{last}")
        ws.add_data_validation(dv)

    add("科技馆编号", HINTS["科技馆编号"], type="list", formula1=f"{LIST_SHEET}!$A$2:$A${centres + 1}")
    add("所属县区", HINTS["所属县区"], type="list", formula1=f'"{county_name}"')
    add("报告月份", HINTS["报告月份"], type="list", formula1=f"{LIST_SHEET}!$D$2:$D${months + 1}")
    add("开放天数", HINTS["开放天数"], type="whole", operator="between", formula1="0", formula2="31")
    for header in COUNTS:
        add(header, HINTS[header], type="whole", operator="greaterThanOrEqual", formula1="0")
    add("设备完好率", HINTS["设备完好率"], type="decimal", operator="between", formula1="0", formula2="1")


def _instructions(ws, county_name: str, deadline_day: int) -> None:
    from openpyxl.styles import Font

    lines = [
        f"{county_name} 农村中学科技馆运行月报 填表说明",
        "",
        "1. 每所科技馆每月填一行，填在“月报”工作表中；不要改动、删除或移动第一行的表头。",
        f"2. 每月的月报请在次月 {deadline_day} 日前上传到 rural_centre_reports/<报告月份>/ 文件夹"
        "（如 rural_centre_reports/2021-08/）。",
        "3. 上传前可以先预检：看板的“上传预检”页面，或 python -m extract.precheck 文件名。",
        "4. 无需填写填报人和联系电话：这些个人信息不会被读取，请不要写在表格的任何位置。",
        "5. 同一科技馆同一月份如需更正，重新上传更正后的文件即可，以最后收到的文件为准。",
        "",
        "各列填写要求：",
        *[f"  {h}：{HINTS[h]}" for h in REPORT_HEADER],
    ]
    for i, text in enumerate(lines, 1):
        ws.cell(i, 1, text)
    ws["A1"].font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 100


def county_template(
    county_code: str, county_name: str, centres: list[Centre], as_of: date, deadline_day: int = 5
) -> bytes:
    """The workbook of one county (bytes of an .xlsx)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill, Protection

    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    ws.append(list(REPORT_HEADER))
    header_style = (Font(bold=True), PatternFill("solid", fgColor="DDEBF7"), Alignment(horizontal="center"))
    for cell in ws[1]:
        cell.font, cell.fill, cell.alignment = header_style
    last = len(centres) + SPARE_ROWS + 1
    month_col, school_col = _column("报告月份"), _column("学校名称")
    for r in range(2, last + 1):
        for c in range(1, len(REPORT_HEADER) + 1):
            ws.cell(r, c).protection = Protection(locked=False)
        ws[f"{school_col}{r}"] = f'=IFERROR(VLOOKUP(A{r},{LIST_SHEET}!$A:$B,2,FALSE),"")'
        ws[f"{school_col}{r}"].protection = Protection(locked=True)  # a lookup, not an input
        ws[f"{month_col}{r}"].number_format = "@"  # 2021-08 stays text, never becomes a date
        ws[f"{_column('设备完好率')}{r}"].number_format = "0%"
    for header, width in zip(REPORT_HEADER, (14, 24, 12, 12, 10, 14, 14, 18, 12), strict=True):
        ws.column_dimensions[_column(header)].width = width
    ws.freeze_panes = "A2"
    ws.protection.sheet = True  # the header row (and the lookups) locked, the rows below open
    for allowed in ("formatCells", "formatColumns", "formatRows", "insertRows", "deleteRows", "sort", "autoFilter"):
        setattr(ws.protection, allowed, False)
    months = months_until(as_of)
    _validations(ws, len(centres), len(months), county_name, last)

    _instructions(wb.create_sheet(HELP_SHEET), county_name, deadline_day)
    lists = wb.create_sheet(LIST_SHEET)
    lists.append(["科技馆编号", "学校名称", None, "报告月份"])
    for i in range(max(len(centres), len(months))):
        c = centres[i] if i < len(centres) else None
        lists.append([c and c.centre_id, c and c.school_name, None, months[i] if i < len(months) else None])
    lists.sheet_state = "hidden"
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def counties_with_centres(registry: list[dict]) -> dict[str, list[Centre]]:
    """{county code: its active centres}, from the published registry's rows."""
    out: dict[str, list[Centre]] = {}
    for r in registry:
        if r["is_active"]:
            out.setdefault(r["county_code"], []).append(Centre(r["centre_id"], r["school_name"], r["county_code"]))
    return dict(sorted(out.items()))


def template_name(county_code: str, county_name: str) -> str:
    return f"{county_code}_{county_name}_农村中学科技馆月报模板.xlsx"


def write_templates(
    out: Path, registry: list[dict], as_of: date, counties: list[str] | None = None, deadline_day: int = 5
) -> list[Path]:
    """One template per county with an active centre (or per county asked for) into `out`;
    reports are due by `deadline_day` of the following month (the settings' report_deadline_day)."""
    from extract import reference

    names = {d["county_code"]: d["county_name"] for d in reference.divisions()}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for code, centres in counties_with_centres(registry).items():
        if counties and code not in counties:
            continue
        path = out / template_name(code, names.get(code, code))
        path.write_bytes(county_template(code, names.get(code, code), centres, as_of, deadline_day))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m extract.templates", description="填报模板: one S4 report template per county"
    )
    p.add_argument("--out", type=Path, default=None, help="folder (default: $PLAN_METRICS_DATA_DIR/templates)")
    p.add_argument("--county", action="append", help="only this county code (repeatable)")
    p.add_argument("--published", type=Path, default=None, help="published file with the S1 registry")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    published = args.published or settings.published_db
    registry, as_of = published_registry(published, settings)
    if not registry:
        print(f"no S1 registry in {published}: run the pipeline (make run / make pipeline) first", file=sys.stderr)
        return 2
    out = args.out or settings.data_dir / "templates"
    written = write_templates(out, registry, as_of or date.today(), args.county, settings.report_deadline_day)
    print(f"{len(written)} template(s) in {out} (registry of {published}, months up to {as_of:%Y-%m})")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
