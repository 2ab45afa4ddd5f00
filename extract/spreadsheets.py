"""Reading the spreadsheets people upload (S4 rural-centre monthly reports, S5 plan ledger).

Real uploads are messy: CSV in UTF-8, UTF-8 with BOM or GBK; xlsx with title rows and
merged cells above the header; full-width digits and thousands separators; blank rows and
a trailing 合计 row; county names instead of codes; months and percentages written several
ways; personal-data columns; an instructions sheet (填表说明) or a hidden, stale sheet in
front of the data. This module turns one file into clean rows plus quarantine entries
(file, row number as a person sees it, column, value, reason). The data sheet is the first
visible sheet whose header row is found (hidden sheets are never read); a file with no such
sheet, or one that cannot be read at all (`extract/workbooks.py`), is rejected whole with a
reason. A cell that reads empty because it lies under a merged range, or because it is a
formula saved without its value, is quarantined as such, not as "missing". Personal-data
columns are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from extract import redact, reference
from extract.cells import (
    BadValue,
    norm_header,
    norm_text,
    parse_date,
    parse_month,
    parse_number,
    parse_ratio,
    parse_region,
)
from extract.workbooks import Sheet, Unreadable, read_workbook

_LINES = msgspec.json.Encoder()
TOTAL_MARKERS = ("合计", "总计", "小计")
PERSON_HEADERS = ("填报人", "联系人", "姓名")  # columns holding a person's name (sources.md: never read as data)
_CENTRE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class Rejected(Exception):
    """The whole file is unusable (unreadable, or its header is missing or misspelt)."""


@dataclass
class Parsed:
    rows: dict[str, list[dict]] = field(default_factory=dict)  # table name -> rows
    # rows set aside: sheet, row_number, column, value (only as `redact.shown_value` allows),
    # reason, table — and raw_value, the cell as written, for restricted storage only
    quarantine: list[dict] = field(default_factory=list)
    skipped: int = 0  # blank and total rows
    sheets: list[str] = field(default_factory=list)  # the sheets the rows were read from (shown safely)
    # names found in the file's personal columns (填报人): masked wherever the file's own name
    # or a sheet's name is shown; never written anywhere
    names: set[str] = field(default_factory=set)

    def to_plain(self) -> dict:
        """Plain data (what a parse worker sends back)."""
        return {
            "rows": self.rows,
            "quarantine": self.quarantine,
            "skipped": self.skipped,
            "sheets": self.sheets,
            "names": sorted(self.names),
        }

    @classmethod
    def from_plain(cls, data: dict) -> Parsed:
        return cls(data["rows"], data["quarantine"], data["skipped"], data["sheets"], set(data["names"]))

    def for_landing(self, raw_name: bytes, lineage: dict, known: set[str]) -> dict:
        """What the drop folder's landing needs, done where the file was parsed (a parse
        worker): the file's shown name and sheets with every known name masked, each table's
        rows as landing lines (JSON, lineage added), the quarantine entries."""
        names = known | self.names
        shown = redact.FileName(raw_name).shown(names)
        sheets = {s: redact.mask_text(s, names) for s in {*self.sheets, *(q["sheet"] for q in self.quarantine)}}
        lineage = {**lineage, "_file_path": shown}
        encode = _LINES.encode_lines
        tables = {
            table: [len(rows), encode([{**r, "_sheet": sheets.get(r["_sheet"], r["_sheet"]), **lineage} for r in rows])]
            for table, rows in self.rows.items()
        }
        for q in self.quarantine:
            q["sheet"] = sheets.get(q["sheet"], q["sheet"])
            q["record"] = {"sheet": q["sheet"], **(q.get("record") or {})}
        return {
            "path": shown,
            "tables": tables,
            "quarantine": self.quarantine,
            "skipped": self.skipped,
            "sheets": [sheets.get(x, x) for x in self.sheets],
            "names": sorted(self.names),
        }


# ---------------------------------------------------------------- reading cells --------


def read_sheets(path: Path, data: bytes) -> list[Sheet]:
    """Every sheet of an uploaded file, or Rejected with the reason it cannot be read."""
    try:
        return read_workbook(path.name, data)
    except Unreadable as exc:
        raise Rejected(str(exc)) from exc


def shown_sheet(sheet: Sheet, names: set[str] = frozenset()) -> str:
    """A sheet's name as it may be written outside restricted storage."""
    return redact.mask_text(redact.escape_text(sheet.name), names)[:100]


def _personal_names(sheet: Sheet, header_idx: int) -> set[str]:
    """The names in the sheet's 填报人 column: masked wherever the file names itself."""
    header = sheet.rows[header_idx][1]
    positions = [pos for pos, cell in enumerate(header) if norm_header(cell) in PERSON_HEADERS]
    found = set()
    for _, cells in sheet.rows[header_idx + 1 :]:
        for pos in positions:
            text = norm_text(cells[pos]) if pos < len(cells) else ""
            if 2 <= len(text) <= 40:
                found.add(text)
    return found


# ---------------------------------------------------------------- table layouts --------


@dataclass(frozen=True)
class Column:
    header: str
    name: str
    parse: object  # callable(value) -> parsed
    required: bool = True


def _count(value):
    n = parse_number(value, integer=True)
    if n is None:
        raise BadValue("missing")
    if n < 0:
        raise BadValue("negative")
    return n


def _days_open(value):
    n = _count(value)
    if n > 31:
        raise BadValue("more than 31 days")
    return n


def _required_text(value):
    text = norm_text(value)
    if not text:
        raise BadValue("missing")
    return text


def _centre_id(value):
    """科技馆编号: an id of letters and digits, never free text (a name or a phone typed into it
    is set aside here, before it could be landed)."""
    text = _required_text(value)
    if not _CENTRE_ID.fullmatch(text) or redact.has_personal_pattern(text):
        raise BadValue("not a centre id (letters and digits)")
    return text


def _measure(value):
    text = norm_text(value).upper()
    ordinals = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
    m = re.fullmatch(r"M?0?([1-9])", text)
    if m:
        return f"M0{m.group(1)}"
    stripped = text.replace("措施", "").strip("()（）")
    if stripped in ordinals:
        return f"M0{ordinals[stripped]}"
    raise BadValue("not a measure code (M01–M09 or 一–九)")


def _ledger_metric(value):
    text = norm_text(value)
    known = reference.metrics()
    if text not in known or known[text]["source"] != "S5":
        raise BadValue("not a ledger metric of the catalog")
    return text


def _non_negative(value):
    n = parse_number(value, integer=False)
    if n is None:
        raise BadValue("missing")
    if n < 0:
        raise BadValue("negative")
    return n


# The S4 report's header as sources.md writes it (the personal columns 填报人 / 联系电话 aside):
# what the templates (extract/templates.py) put in their header row.
REPORT_HEADER = (
    "科技馆编号",
    "学校名称",
    "所属县区",
    "报告月份",
    "开放天数",
    "接待学生人次",
    "接待公众人次",
    "开展科普活动次数",
    "设备完好率",
)

REPORT_COLUMNS = (
    Column("科技馆编号", "centre_id", _centre_id),
    Column("所属县区", "county_code", lambda v: parse_region(v, counties_only=True)),
    Column("报告月份", "report_month", parse_month),
    Column("开放天数", "days_open", _days_open),
    Column("接待学生人次", "student_visits", _count),
    Column("接待公众人次", "public_visits", _count),
    Column("开展科普活动次数", "activities", _count),
    Column("设备完好率", "equipment_ok_ratio", parse_ratio, required=False),
)

ACTIVITY_COLUMNS = (
    Column("措施编号", "measure_code", _measure),
    Column("指标代码", "metric_id", _ledger_metric),
    Column("地区代码", "region_code", lambda v: parse_region(v, counties_only=False)),
    Column("日期", "activity_date", parse_date),
    Column("数值", "value", _non_negative),
)
# Free-text columns (学校名称, 说明) are not read: no metric uses them, and a person's name or
# phone typed into one would travel with the row (the S1 registry holds each school's name).

TARGET_COLUMNS = (
    Column("指标代码", "metric_id", _ledger_metric),
    Column("地区代码", "region_code", lambda v: parse_region(v, counties_only=False)),
    Column("目标值", "target_value", _non_negative),
    Column("截止日期", "deadline", parse_date),
)


# What identifies a row of each table (all codes or dates the parser checked: never free
# text): kept with a row that is set aside, so the return list can say whose report it was.
IDENTITY = {
    "reports": ("centre_id", "county_code", "report_month"),
    "activities": ("metric_id", "region_code", "activity_date"),
    "targets": ("metric_id", "region_code"),
}


def _identity(record: dict, table: str) -> dict:
    """The identifying values a set-aside row did have, as text (dates as YYYY-MM-DD)."""
    out = {}
    for name in IDENTITY[table]:
        value = record.get(name)
        if value is not None:
            out[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return out


def _find_header(rows: list[tuple[int, list]], columns: tuple[Column, ...], where: str) -> tuple[int, dict[str, int]]:
    """Index of the header row among the first rows, and header → column position."""
    required = {c.header for c in columns if c.required}
    best: set[str] = set()
    for idx, (_, cells) in enumerate(rows[:15]):
        headers = {norm_header(c): pos for pos, c in enumerate(cells) if norm_header(c)}
        if required <= headers.keys():
            return idx, headers
        if len(required & headers.keys()) > len(best):
            best = required & headers.keys()
    missing = sorted(required - best)
    raise Rejected(f"{where}: header row not found; missing or misspelt column(s): {', '.join(missing)}")


def _unwritten(sheet: Sheet, row_number: int, pos: int) -> str | None:
    """Why an empty cell is empty, when it is not simply left blank."""
    merged = sheet.merged_range(row_number, pos)
    if merged:
        return f"merged cell ({merged}): the value is written once for several rows"
    if (row_number, pos) in sheet.formulas:
        return "formula without a cached value (saved by a program that does not compute formulas)"
    return None


def _parse_table(sheet: Sheet, columns: tuple[Column, ...], result: Parsed, table: str, where: str) -> None:
    header_idx, headers = _find_header(sheet.rows, columns, where)
    out = result.rows.setdefault(table, [])
    result.names |= _personal_names(sheet, header_idx)
    name = shown_sheet(sheet, result.names)
    result.sheets.append(name)
    for row_number, cells in sheet.rows[header_idx + 1 :]:
        texts = [norm_text(c) for c in cells]
        if not any(texts):
            result.skipped += 1
            continue
        if any(marker in t for t in texts[:3] for marker in TOTAL_MARKERS):
            result.skipped += 1  # a total row: must not be counted
            continue
        record: dict = {"_sheet": name, "_row_number": row_number}
        bad = None
        for col in columns:
            pos = headers.get(col.header)
            raw = cells[pos] if pos is not None and pos < len(cells) else None
            if bad is not None and col.name not in IDENTITY[table]:
                continue  # once a row is set aside, only what identifies it is still read
            try:
                reason = _unwritten(sheet, row_number, pos) if pos is not None and norm_text(raw) == "" else None
                if reason:
                    raise BadValue(reason)
                record[col.name] = col.parse(raw)
            except BadValue as exc:
                bad = bad or {
                    "sheet": name,
                    "row_number": row_number,
                    "column": col.header,
                    "value": redact.shown_value(int(raw) if isinstance(raw, float) and raw.is_integer() else raw),
                    "raw_value": norm_text(raw)[:200],
                    "reason": str(exc),
                    "table": table,
                }
        if bad is None:
            out.append(record)
        else:
            bad["record"] = _identity(record, table)
            result.quarantine.append(bad)


def parse_report_file(path: Path, data: bytes) -> Parsed:
    """S4: one monthly report file (one or many schools), from its first visible sheet that
    has the report's header (an instructions sheet in front is skipped; hidden sheets are
    never read)."""
    result = Parsed(rows={"reports": []})
    sheets = read_sheets(path, data)
    visible = [s for s in sheets if not s.hidden]
    problems = []
    for sheet in visible:
        where = f"sheet {shown_sheet(sheet)!r}"
        try:
            _find_header(sheet.rows, REPORT_COLUMNS, where)
        except Rejected as exc:
            problems.append(str(exc))
            continue
        _parse_table(sheet, REPORT_COLUMNS, result, "reports", where)
        return result
    hidden = [shown_sheet(s) for s in sheets if s.hidden]
    note = f" (hidden sheets not read: {', '.join(hidden)})" if hidden else ""
    raise Rejected("; ".join(problems) + note if problems else f"no visible sheet{note}")


def parse_ledger_file(path: Path, data: bytes) -> Parsed:
    """S5: the ledger workbook, visible sheets 台账 (activities) and 目标 (targets)."""
    result = Parsed(rows={"activities": [], "targets": []})
    sheets = {norm_header(s.name): s for s in read_sheets(path, data) if not s.hidden}
    if "台账" not in sheets:
        raise Rejected(f"no visible sheet 台账 (found: {', '.join(shown_sheet(s) for s in sheets.values())})")
    _parse_table(sheets["台账"], ACTIVITY_COLUMNS, result, "activities", "sheet 台账")
    if "目标" in sheets:
        _parse_table(sheets["目标"], TARGET_COLUMNS, result, "targets", "sheet 目标")
    return result
