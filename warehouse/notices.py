"""Notices to counties: each county's digest of what to send again and who has not reported.

Off by default. The DAG `county_notices` (dags/county_notices.py, weekly) sends one digest per
county that the Apprise connection `plan_metrics_county_notices` names — the one mapping of
county → Apprise URL: each entry's `tag` is a county code, e.g.

    AIRFLOW_CONN_PLAN_METRICS_COUNTY_NOTICES='{"conn_type": "apprise", "extra": {"config": [
        {"path": "dingtalk://<token>/", "tag": "421202"}, {"path": "mailto://…", "tag": "420102"}]}}'

A digest says, in Chinese then English, how many of the county's report rows were set aside
this month and are not yet fixed, and which centres are overdue for the latest month whose
deadline has passed; attached is the county's return list (退回清单: every row not yet fixed)
as an XLSX, ready to send back — the same file the dashboard's 数据报送 page downloads
(`return_list_xlsx`). Everything comes from the published file (`metrics.report_returns`,
`metrics.unreported_centres`, `metrics.regions`): no personal data, no working database.
This module builds the digests; `dags/plan_dag_lib/notices.py` sends them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from extract import reasons
from extract.beijing_time import TZ_NAME
from settings import Settings

NOTICES_CONN_ID = "plan_metrics_county_notices"
# the return list as a county receives it: (column of metrics.report_returns, Chinese, English header)
RETURN_COLUMNS = (
    ("file", "文件", "file"),
    ("sheet", "工作表", "sheet"),
    ("row_number", "行号", "row"),
    ("centre_id", "科技馆编号", "centre"),
    ("school_name", "学校名称", "school"),
    ("report_month", "报告月份", "month"),
    ("column_name", "字段", "column"),
    ("value", "填写的值", "value written"),
    ("reason", "原因", "reason"),
    ("fix", "如何修改", "what to change"),
    ("fixed", "是否已更正", "fixed"),
    ("received_at", "接收时间", "received"),
)


def return_list_rows(rows: list[dict], lang: str = reasons.ZH) -> tuple[list[str], list[list]]:
    """(headers, rows) of a return list from metrics.report_returns rows, in the reader's language."""
    en = lang == reasons.EN
    headers = [e if en else z for _, z, e in RETURN_COLUMNS]
    out = []
    for r in rows:
        line = []
        for name, _, _ in RETURN_COLUMNS:
            if name == "reason":
                value = r["reason_en" if en else "reason_zh"]
            elif name == "fix":
                value = r["fix_en" if en else "fix_zh"]
            elif name == "fixed":
                value = ("yes" if en else "已更正") if r["fixed"] else ("no" if en else "未更正")
            elif name == "value":
                value = reasons.shown_value(r["value"], lang)
            elif name == "report_month":
                value = f"{r['report_month']:%Y-%m}" if r["report_month"] else ""
            elif name == "received_at":
                value = r["received_at"].strftime("%Y-%m-%d %H:%M") if r["received_at"] else ""
            else:
                value = r[name]
            line.append("" if value is None else value)
        out.append(line)
    return headers, out


def return_list_xlsx(rows: list[dict], title: str, lang: str = reasons.ZH) -> bytes:
    """The return list as a workbook: a title line, the header, one row per row set aside."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    headers, body = return_list_rows(rows, lang)
    wb = Workbook()
    ws = wb.active
    ws.title = "退回清单" if lang != reasons.EN else "return list"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for line in body:
        ws.append(line)
    for col, width in zip("ABCDEFGHIJKL", (40, 10, 6, 12, 18, 10, 14, 16, 28, 50, 10, 17), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@dataclass
class Digest:
    county_code: str
    county_name: str
    month: date  # the month "this month" means (the digest's day)
    set_aside_this_month: int  # rows and files received this month, set aside, not yet fixed
    open_rows: list[dict] = field(default_factory=list)  # the county's return list: rows not yet fixed
    overdue_month: date | None = None
    overdue: list[dict] = field(default_factory=list)  # centres overdue for overdue_month

    @property
    def title(self) -> str:
        return f"{self.county_name} 农村中学科技馆月报：{self.month:%Y年%m月} 待办 · report digest {self.month:%Y-%m}"

    @property
    def body(self) -> str:
        lines = [
            f"{self.county_name}（{self.county_code}）",
            f"本月被退回、尚未更正的月报数据：{self.set_aside_this_month} 处；全部未更正的共 {len(self.open_rows)} 处，"
            "见附件退回清单（按“如何修改”一栏修改后重新上传）。",
        ]
        if self.overdue_month is not None:
            lines.append(
                f"{self.overdue_month:%Y年%m月} 的月报逾期未报（{len(self.overdue)} 所）："
                + "、".join(
                    f"{o['school_name']}（{o['centre_id']}，逾期 {o['days_overdue']} 天）" for o in self.overdue
                )
            )
        lines += [
            "",
            f"{self.county_code}: {self.set_aside_this_month} report row(s) set aside this month and not yet fixed; "
            f"{len(self.open_rows)} in all (the attached return list says what to change).",
        ]
        if self.overdue_month is not None:
            lines.append(f"Overdue for {self.overdue_month:%Y-%m}: {', '.join(o['centre_id'] for o in self.overdue)}.")
        return "\n".join(lines)

    def attachment_name(self) -> str:
        return f"{self.county_code}_{self.county_name}_退回清单_{self.month:%Y-%m}.xlsx"

    def attachment(self) -> bytes:
        return return_list_xlsx(self.open_rows, f"{self.county_name} 退回清单（{self.month:%Y-%m}）")

    @property
    def worth_sending(self) -> bool:
        return bool(self.set_aside_this_month or self.overdue)


def _rows(conn, sql: str, params: list) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def county_digests(
    published_db: Path, settings: Settings, today: date, counties: list[str] | None = None
) -> list[Digest]:
    """Each county's digest (of `counties`, else every county with something to say), from the
    published file alone; "this month" is `today`'s month (Beijing), the receipt time's too."""
    from settings import duck

    month = today.replace(day=1)
    with duck.connect(":memory:", settings) as conn:
        conn.execute(f"attach '{published_db}' as published (read_only)")
        conn.execute("use published")
        conn.execute(f"set timezone = '{TZ_NAME}'")  # receipt times as the counties read them
        names = dict(conn.execute("select region_code, name_zh from metrics.regions").fetchall())
        returns = _rows(
            conn,
            "select *, cast(date_trunc('month', received_at) as date) = ? as this_month "
            "from metrics.report_returns where not fixed and county_code is not null order by received_at, file, row_number",
            [month],
        )
        overdue = _rows(
            conn,
            "select * from metrics.unreported_centres where is_overdue "
            "qualify period_month = max(period_month) over (partition by county_code) order by centre_id",
            [],
        )
    wanted = set(counties) if counties is not None else {r["county_code"] for r in returns + overdue}
    out = []
    for code in sorted(wanted):
        mine = [r for r in returns if r["county_code"] == code]
        late = [o for o in overdue if o["county_code"] == code]
        out.append(
            Digest(
                code,
                names.get(code, code),
                month,
                sum(r["this_month"] for r in mine),
                mine,
                late[0]["period_month"] if late else None,
                late,
            )
        )
    return out
