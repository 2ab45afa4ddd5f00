"""The S4/S5 file drops: every messy form sources.md lists appears, the bytes and mtimes are
a pure function of the seed, and the planted defects are where the simulator says they are."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from simulator import drops
from simulator.world import WorldConfig, parse_ts

CFG = WorldConfig(seed=3, scale=0.3)
CLOCK = parse_ts("2021-12-31T23:59:59+08:00")


@pytest.fixture(scope="module")
def incoming(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("incoming")
    drops.write_drops(CFG, folder, CLOCK)
    return folder


def report_files(folder: Path) -> list[Path]:
    return sorted((folder / "rural_centre_reports").rglob("*.*"))


def csv_rows(path: Path) -> tuple[str, list[list[str]]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gbk"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        kind = "bom" if raw.startswith(b"\xef\xbb\xbf") else "utf-8" if encoding == "utf-8-sig" else "gbk"
        return kind, list(csv.reader(io.StringIO(text)))
    raise AssertionError(f"{path} is neither UTF-8 nor GBK")


def sheet_rows(path: Path) -> list[list]:
    ws = openpyxl.load_workbook(path).worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_every_messy_report_form_appears(incoming):
    seen: set[str] = set()
    for path in report_files(incoming):
        if path.suffix == ".xlsx":
            ws = openpyxl.load_workbook(path).worksheets[0]
            seen.add("xlsx")
            if ws.merged_cells.ranges:
                seen.add("merged title")
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            if any(hasattr(c, "year") for r in rows for c in r):
                seen.add("month as excel date")
        else:
            kind, rows = csv_rows(path)
            seen.add(f"csv {kind}")
            rows = [[c or None for c in r] for r in rows]
        cells = [str(c) for r in rows for c in r if c is not None]
        if any(any("０" <= ch <= "９" for ch in c) for c in cells):
            seen.add("full-width digits")
        if any(c.replace(",", "").isdigit() and "," in c for c in cells):
            seen.add("thousands separator")
        if "合计" in cells:
            seen.add("total row")
        if any(all(c is None for c in r) for r in rows):
            seen.add("blank row")
        if any(c.endswith(("区", "县", "市")) and not c.startswith(("农村", "填报")) for c in cells):
            seen.add("county name")
        if "填报人" in cells and "联系电话" in cells:
            seen.add("personal data")
        for c in cells:
            if "年" in c and c.endswith("月") and len(c) <= 8:
                seen.add("month 2020年8月")
            elif len(c) in (6, 7) and c[4] == "/" and c[:4].isdigit():
                seen.add("month 2020/8")
            elif len(c) == 7 and c[4] == "-" and c[:4].isdigit():
                seen.add("month 2020-08")
            elif c.endswith("%"):
                seen.add("percent 95%")
            elif c.startswith("0.") and len(c) <= 4:
                seen.add("percent 0.95")
        if "开放天" in cells and "开放天数" not in cells:
            seen.add("broken header")
        if "更正" in path.name:
            seen.add("correction")
    expected = {
        "xlsx", "merged title", "month as excel date", "csv bom", "csv utf-8", "csv gbk", "full-width digits",
        "thousands separator", "total row", "blank row", "county name", "personal data", "month 2020年8月",
        "month 2020/8", "month 2020-08", "percent 95%", "percent 0.95", "broken header", "correction",
    }  # fmt: skip
    assert expected - seen == set()


def test_a_correction_is_newer_than_the_file_it_corrects(incoming):
    for path in report_files(incoming):
        if "_更正版" in path.stem:
            original = next(path.parent.glob(path.stem.replace("_更正版", "") + ".*"))
            assert path.stat().st_mtime > original.stat().st_mtime


def test_planted_bad_rows_are_in_the_files_at_the_row_and_column_stated(incoming):
    bad = drops.planted_bad_rows(CFG, CLOCK)
    reasons = {b[4] for b in bad}
    assert {
        "negative value",
        "more than 31 days open",
        "unknown county",
        "unknown centre",
        "unknown region code",
    } <= reasons
    for rel, row_number, header, value, _reason in bad:
        path = incoming / rel
        if path.suffix == ".csv":
            rows = csv_rows(path)[1]
        elif rel.startswith("plan_ledger/"):
            rows = [list(r) for r in openpyxl.load_workbook(path)["台账"].iter_rows(values_only=True)]
        else:
            rows = sheet_rows(path)
        header_row = next(r for r in rows if "科技馆编号" in r or "指标代码" in r)
        cell = rows[row_number - 1][header_row.index(header)]
        assert str(cell).translate(str.maketrans("０１２３４５６７８９", "0123456789")).replace(",", "") == value


def test_the_ledger_has_both_sheets_and_both_ways_of_writing_a_measure(incoming):
    books = sorted((incoming / "plan_ledger").glob("*.xlsx"))
    assert len(books) == len(list(drops.months()))
    measures = set()
    for book in books:
        wb = openpyxl.load_workbook(book)
        assert wb.sheetnames == ["台账", "目标"]
        measures |= {r[0] for r in wb["台账"].iter_rows(min_row=2, values_only=True)}
    assert {"M03", "三"} <= measures


def test_same_seed_writes_identical_bytes_and_mtimes(incoming, tmp_path):
    drops.write_drops(CFG, tmp_path, CLOCK)
    first = {p.relative_to(incoming): (p.read_bytes(), p.stat().st_mtime) for p in incoming.rglob("*.*")}
    second = {p.relative_to(tmp_path): (p.read_bytes(), p.stat().st_mtime) for p in tmp_path.rglob("*.*")}
    assert first == second and len(first) > 50


def test_moving_the_clock_back_removes_files_not_yet_submitted(tmp_path):
    early = parse_ts("2020-09-30T23:59:59+08:00")
    drops.write_drops(CFG, tmp_path, CLOCK)
    drops.write_drops(CFG, tmp_path, early)
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")}
    assert on_disk == {f.path for f in drops.due_files(CFG, early)}
    assert all(p.stat().st_mtime <= early for p in tmp_path.rglob("*.*"))
