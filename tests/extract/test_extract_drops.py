"""The drop-folder extractors (S4 monthly reports, S5 ledger) on every messy form the
contract lists, written here by hand so each expectation is visible in the test."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pytest

from extract import cells, spreadsheets
from extract.drops import DropSettings, candidate_files, extract_drop_folder
from warehouse.raw_load import load_drop_source

# the simulator and these tests write each file complete before the extract: no quiet period
NO_QUIET = DropSettings(quiet_seconds=0)

HEADER = [
    "科技馆编号",
    "学校名称",
    "所属县区",
    "报告月份",
    "开放天数",
    "接待学生人次",
    "接待公众人次",
    "开展科普活动次数",
    "设备完好率",
    "填报人",
    "联系电话",
]


def write_csv(path, rows, encoding):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(",".join(f'"{c}"' if "," in str(c) else str(c) for c in r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))


def write_xlsx(path, rows, title=None, sheet="月报"):
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
        ws.append([])
    for r in rows:
        ws.append(r)
    wb.save(path)


@pytest.mark.parametrize(
    "encoding",
    [pytest.param("utf-8", id="utf8"), pytest.param("utf-8-sig", id="utf8-bom"), pytest.param("gbk", id="gbk")],
)
def test_csv_in_every_encoding_reads_the_same_values(tmp_path, encoding):
    path = tmp_path / "r.csv"
    write_csv(
        path,
        [
            HEADER,
            [
                "RC0001",
                "咸安区实验中学",
                "咸安区",
                "2020年8月",
                "２２",
                "1,234",
                "５６７",
                "3",
                "95%",
                "张三",
                "13800000000",
            ],
        ],
        encoding,
    )
    parsed = spreadsheets.parse_report_file(path, path.read_bytes())
    assert parsed.quarantine == []
    (row,) = parsed.rows["reports"]
    assert row["centre_id"] == "RC0001" and row["county_code"] == "421202"
    assert row["report_month"] == date(2020, 8, 1)
    assert (row["days_open"], row["student_visits"], row["public_visits"], row["activities"]) == (22, 1234, 567, 3)
    assert row["equipment_ok_ratio"] == 0.95
    assert "填报人" not in str(row) and "13800000000" not in str(row)


@pytest.mark.parametrize(
    "cell, expected",
    [
        pytest.param("2020-08", date(2020, 8, 1), id="iso"),
        pytest.param("2020年8月", date(2020, 8, 1), id="chinese"),
        pytest.param("2020/8", date(2020, 8, 1), id="slash"),
        pytest.param(datetime(2020, 8, 1), date(2020, 8, 1), id="excel-date"),
        pytest.param(44044, date(2020, 8, 1), id="excel-serial"),
        pytest.param("２０２０年１２月", date(2020, 12, 1), id="full-width"),
    ],
)
def test_the_month_is_read_in_every_form(cell, expected):
    assert cells.parse_month(cell) == expected


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param("95%", id="percent"),
        pytest.param("0.95", id="share"),
        pytest.param("95", id="number"),
        pytest.param(0.95, id="excel-number"),
    ],
)
def test_the_equipment_ratio_is_read_in_every_form(cell):
    assert cells.parse_ratio(cell) == 0.95


@pytest.mark.parametrize(
    "parse, cell, reason",
    [
        pytest.param(cells.parse_month, "2020-08-45", "not a month", id="month-day-45"),
        pytest.param(cells.parse_month, "2020/8/99", "not a month", id="month-day-99"),
        pytest.param(cells.parse_month, "2020-08-00", "not a month", id="month-day-0"),
        pytest.param(cells.parse_month, "2020-13", "not a month", id="month-13"),
        pytest.param(cells.parse_month, "10000", "not a month", id="serial-before-excel-dates"),
        pytest.param(cells.parse_date, "2021-02-29", "not a date", id="date-feb-29-2021"),
        pytest.param(lambda c: cells.parse_number(c, integer=True), "1,2,3", "not a number", id="number-1,2,3"),
        pytest.param(lambda c: cells.parse_number(c, integer=True), "12,34", "not a number", id="number-12,34"),
        pytest.param(lambda c: cells.parse_number(c, integer=True), "1,,234", "not a number", id="number-1,,234"),
        pytest.param(cells.parse_ratio, "95%%", "not a share", id="ratio-95%%"),
        pytest.param(
            lambda c: cells.parse_region(c, counties_only=True), "武汉市嘉鱼县", "unknown county", id="wrong-prefecture"
        ),
    ],
)
def test_a_near_miss_of_a_contract_form_is_refused_not_guessed(parse, cell, reason):
    # GIVEN a cell written almost in a form sources.md names, with one thing wrong
    # WHEN it is parsed THEN it is refused with the kind of problem (and the row is quarantined)
    with pytest.raises(cells.BadValue, match=reason):
        parse(cell)


def test_an_xlsx_with_title_rows_blank_rows_and_a_total_row_loads_only_the_schools(tmp_path):
    path = tmp_path / "r.xlsx"
    write_xlsx(
        path,
        [
            HEADER,
            ["RC0001", "甲中学", "421202", "2020-08", 20, 100, 50, 2, "0.9", "李四", "13900000000"],
            [None] * len(HEADER),
            ["RC0002", "乙中学", "咸宁市嘉鱼县", datetime(2020, 8, 1), 18, "1,000", 40, 1, 90, "王五", "13700000000"],
            ["合计", None, None, None, 38, 1100, 90, 3, None, None, None],
        ],
        title="咸宁市农村中学科技馆运行月报（2020年8月）",
    )
    parsed = spreadsheets.parse_report_file(path, path.read_bytes())
    assert parsed.quarantine == []
    assert [r["centre_id"] for r in parsed.rows["reports"]] == ["RC0001", "RC0002"]
    assert parsed.rows["reports"][1]["county_code"] == "421221"
    assert [r["_row_number"] for r in parsed.rows["reports"]] == [4, 6]  # rows as a person sees them
    assert parsed.skipped == 2


@pytest.mark.parametrize(
    "cells, column, reason",
    [
        pytest.param({"开放天数": 32}, "开放天数", "more than 31 days", id="days>31"),
        pytest.param({"接待学生人次": -5}, "接待学生人次", "negative", id="negative"),
        pytest.param({"所属县区": "999999"}, "所属县区", "unknown region code", id="unknown-county-code"),
        pytest.param({"所属县区": "火星区"}, "所属县区", "unknown county", id="unknown-county-name"),
        pytest.param({"报告月份": "八月"}, "报告月份", "not a month", id="bad-month"),
    ],
)
def test_an_impossible_value_quarantines_that_row_and_the_rest_of_the_file_loads(tmp_path, cells, column, reason):
    good = ["RC0001", "甲", "421202", "2020-08", 20, 100, 50, 2, "90%", "", ""]
    bad = ["RC0002", "乙", "421202", "2020-08", 20, 100, 50, 2, "90%", "", ""]
    for header, value in cells.items():
        bad[HEADER.index(header)] = value
    path = tmp_path / "r.csv"
    write_csv(path, [HEADER, good, bad], "utf-8")
    parsed = spreadsheets.parse_report_file(path, path.read_bytes())
    assert [r["centre_id"] for r in parsed.rows["reports"]] == ["RC0001"]
    (q,) = parsed.quarantine
    assert (q["row_number"], q["column"], q["reason"]) == (3, column, reason)


def test_a_misspelt_header_rejects_the_whole_file_with_a_reason(tmp_path):
    path = tmp_path / "r.csv"
    header = [h.replace("接待学生人次", "接待学生人数") for h in HEADER]
    write_csv(path, [header, ["RC0001", "甲", "421202", "2020-08", 20, 100, 50, 2, "90%", "", ""]], "utf-8")
    with pytest.raises(spreadsheets.Rejected, match="接待学生人次"):
        spreadsheets.parse_report_file(path, path.read_bytes())


def test_the_ledger_reads_both_sheets_and_chinese_measure_numbers(tmp_path):
    path = tmp_path / "ledger.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(["措施编号", "指标代码", "地区代码", "日期", "数值", "说明"])
    ws.append(["三", "anxin_aid_person_times", "420100", datetime(2020, 8, 3), "1,200", "线上咨询"])
    ws.append(["M06", "literacy_survey_prefectures", "421202", "2020/9/1", 1, ""])
    ws.append(["M04", "no_such_metric", "420000", "2020-09-01", 5, ""])
    targets = wb.create_sheet("目标")
    targets.append(["指标代码", "地区代码", "目标值", "截止日期"])
    targets.append(["literacy_survey_prefectures", "420000", 17, "2021-12-31"])
    wb.save(path)
    parsed = spreadsheets.parse_ledger_file(path, path.read_bytes())
    acts = parsed.rows["activities"]
    assert [(a["measure_code"], a["metric_id"], a["region_code"], a["activity_date"], a["value"]) for a in acts] == [
        ("M03", "anxin_aid_person_times", "420100", date(2020, 8, 3), 1200.0),
        ("M06", "literacy_survey_prefectures", "421202", date(2020, 9, 1), 1.0),
    ]
    assert [(q["row_number"], q["column"]) for q in parsed.quarantine] == [(4, "指标代码")]
    assert parsed.rows["targets"][0]["target_value"] == 17.0


def test_file_names_are_untrusted_nothing_outside_the_drop_folder_is_read(tmp_path):
    incoming = tmp_path / "incoming"
    (incoming / "rural_centre_reports" / "2020-08").mkdir(parents=True)
    secret = tmp_path / "secret.csv"
    secret.write_text("not yours")
    os.symlink(secret, incoming / "rural_centre_reports" / "2020-08" / "link.csv")
    os.symlink(tmp_path, incoming / "rural_centre_reports" / "escape")
    (incoming / "rural_centre_reports" / "2020-08" / "ok.csv").write_text("x")
    # THEN the walk never enters the linked folder: only the two entries of the drop folder
    found = candidate_files(incoming, "rural_centre_reports")
    assert sorted(f.raw for f in found) == [
        b"rural_centre_reports/2020-08/link.csv",
        b"rural_centre_reports/2020-08/ok.csv",
        b"rural_centre_reports/escape",
    ]
    # AND the extraction refuses both links with a reason and never reads what they point to
    m = extract_drop_folder("rural_centre_reports", incoming, tmp_path / "landing", "run1", settings=NO_QUIET)
    refused = {f.path: f.reason for f in m.received if f.status == "rejected"}
    assert "symbolic link" in refused["rural_centre_reports/2020-08/link.csv"]
    assert "symbolic link" in refused["rural_centre_reports/escape"]
    assert "secret" not in "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.jsonl"))


def _drop(incoming, name, rows, mtime):
    path = incoming / "rural_centre_reports" / "2020-08" / name
    write_csv(path, [HEADER, *rows], "utf-8")
    os.utime(path, (mtime, mtime))
    return path


def test_a_file_is_processed_once_and_a_changed_file_is_a_new_version(tmp_path):
    incoming, landing, db = tmp_path / "incoming", tmp_path / "landing", tmp_path / "w.duckdb"
    path = _drop(
        incoming, "学校A.csv", [["RC0001", "甲", "421202", "2020-08", 20, 100, 50, 2, "", "", ""]], 1_600_000_000
    )
    m1 = extract_drop_folder("rural_centre_reports", incoming, landing, "run1", settings=NO_QUIET)
    assert m1.row_count == 1
    # GIVEN nothing changed WHEN the extractor runs again THEN nothing new lands
    assert extract_drop_folder("rural_centre_reports", incoming, landing, "run2", settings=NO_QUIET) is None
    # GIVEN the school corrects its file WHEN the extractor runs THEN the new version lands
    _drop(incoming, "学校A.csv", [["RC0001", "甲", "421202", "2020-08", 21, 110, 50, 2, "", "", ""]], 1_600_100_000)
    assert extract_drop_folder("rural_centre_reports", incoming, landing, "run3", settings=NO_QUIET).row_count == 1
    with duckdb.connect(str(db)) as conn:
        load_drop_source(conn, "rural_centre_reports", landing)
        assert load_drop_source(conn, "rural_centre_reports", landing)["manifests"] == 0  # loaded once
        rows = conn.execute(
            "select days_open, student_visits from raw.rural_centre_reports__reports order by _file_mtime"
        ).fetchall()
    assert rows == [(20, 100), (21, 110)]
    assert path.exists()


def test_rejected_files_and_bad_rows_reach_the_quarantine_table_with_file_row_column_and_reason(tmp_path):
    incoming, landing, db = tmp_path / "incoming", tmp_path / "landing", tmp_path / "w.duckdb"
    _drop(
        incoming,
        "good.csv",
        [
            ["RC0001", "甲", "421202", "2020-08", 20, 100, 50, 2, "", "", ""],
            ["RC0002", "乙", "421202", "2020-08", 40, 100, 50, 2, "", "", ""],
        ],
        1_600_000_000,
    )
    broken = incoming / "rural_centre_reports" / "2020-08" / "broken.csv"
    write_csv(broken, [["编号", "学校"], ["RC0003", "丙"]], "utf-8")
    extract_drop_folder("rural_centre_reports", incoming, landing, "run1", settings=NO_QUIET)
    with duckdb.connect(str(db)) as conn:
        load_drop_source(conn, "rural_centre_reports", landing)
        q = conn.execute(
            "select file, row_number, column_name, value, reason from meta.quarantine order by file"
        ).fetchall()
        loaded = conn.execute("select centre_id from raw.rural_centre_reports__reports").fetchall()
        files = conn.execute("select file_path, status from meta.received_files order by file_path").fetchall()
    assert loaded == [("RC0001",)]
    assert q[0][0].endswith("broken.csv") and q[0][4].startswith("file rejected") and q[0][1] is None
    assert q[1][0].endswith("good.csv") and q[1][1:] == (3, "开放天数", "40", "more than 31 days")
    assert [s for _, s in files] == ["rejected", "accepted"]


def _bytes_read() -> int:
    """Bytes this process has read through read() so far (/proc/self/io rchar)."""
    return int(dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())["rchar"])


def test_an_unchanged_file_is_not_read_again_and_a_rewrite_that_keeps_size_and_mtime_is_noticed(tmp_path):
    # GIVEN a landed file of about 2 MB (so that reading it would show in the bytes read)
    incoming, landing = tmp_path / "incoming", tmp_path / "landing"
    rows = [["RC0001", "甲", "421202", "2020-08", 20, 100, 50, 2, "", "", ""]]
    rows += [["", "", "", "", "", "", "", "", "", "", ""]] * 150_000  # blank rows: skipped, still bytes
    path = _drop(incoming, "a.csv", rows, 1_600_000_000)
    assert path.stat().st_size > 1_500_000
    assert extract_drop_folder("rural_centre_reports", incoming, landing, "run1", settings=NO_QUIET).row_count == 1
    # WHEN nothing has touched it: the next run decides from stat() alone, without reading it
    before = _bytes_read()
    assert extract_drop_folder("rural_centre_reports", incoming, landing, "run2", settings=NO_QUIET) is None
    assert _bytes_read() - before < 1_000_000
    # AND when it is rewritten with other bytes of the same size and the same modification
    # time (a copy that keeps the sender's mtime): its change time gives it away, it is read
    data = path.read_bytes()
    path.write_bytes(data.replace(b"RC0001", b"RC0009"))
    os.utime(path, (1_600_000_000, 1_600_000_000))
    m3 = extract_drop_folder("rural_centre_reports", incoming, landing, "run3", settings=NO_QUIET)
    assert m3.row_count == 1 and m3.received[0].sha256 != extract_drop_folder(
        "rural_centre_reports", incoming, landing, "run1", settings=NO_QUIET).received[0].sha256  # fmt: skip
    # AND a file merely touched (same bytes, new time) is read, hashed and known: nothing lands
    os.utime(path, (1_600_000_500, 1_600_000_500))
    assert extract_drop_folder("rural_centre_reports", incoming, landing, "run4", settings=NO_QUIET) is None
