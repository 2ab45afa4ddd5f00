"""The `broken` drop fault: every broken and awkward file kind is in the drop folders and
behaves as documented when read with openpyxl and the csv module, `drops.drop_plan` says
where each one is, and the truth leaves out exactly the rejected files and quarantined rows."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from simulator import drops, scipop
from simulator.faults import Faults, missing_field
from simulator.process import SimulatorProcess
from simulator.sources import parse_specs
from simulator.world import WorldConfig, bj_month, parse_ts

CFG = WorldConfig(seed=3, scale=0.1)
CLOCK = parse_ts("2021-12-31T23:59:59+08:00")
FAULTS = {"rural_centre_reports": Faults(broken=0.2), "plan_ledger": Faults(broken=1.0)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("broken")
    drops.write_drops(CFG, path, CLOCK, FAULTS)
    return path


@pytest.fixture(scope="module")
def plan() -> drops.DropPlan:
    return drops.drop_plan(CFG, CLOCK, FAULTS)


def files_of(plan: drops.DropPlan, kind: str, source: str = "rural_centre_reports") -> list[drops.FileInfo]:
    found = [f for f in plan.files if f.defect == kind and f.source == source]
    assert found, f"no {source} file carries {kind}"
    return found


def rows(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_every_kind_is_planted_in_both_folders_and_written(folder, plan):
    # GIVEN both drop sources with the broken fault WHEN the drops are written
    kinds = Counter((f.source, f.defect) for f in plan.files if f.defect)
    # THEN every documented kind is present, and each file is on disk under its path
    assert {k for s, k in kinds if s == "rural_centre_reports"} == set(drops.REPORT_DEFECTS)
    assert {k for s, k in kinds if s == "plan_ledger"} == set(drops.LEDGER_DEFECTS)
    assert all((folder / f.path).is_file() for f in plan.files)
    assert {str(p.relative_to(folder)) for p in folder.rglob("*.*")} == {f.path for f in plan.files}
    # AND the rejected files are exactly the rejecting kinds plus the broken headers
    assert {(r.path, r.category) for r in plan.rejected} == {
        (f.path, f.defect or "broken_header") for f in plan.files if f.rejected
    }
    assert {r.category for r in plan.rejected} == set(drops.REJECTING) | {"broken_header"}


def test_a_truncated_workbook_does_not_open(folder, plan):
    for f in files_of(plan, "corrupt") + files_of(plan, "corrupt", "plan_ledger"):
        with pytest.raises(zipfile.BadZipFile):
            openpyxl.load_workbook(folder / f.path, read_only=True)


def test_an_unreadable_cell_opens_then_fails_while_the_rows_are_read(folder, plan):
    for f in files_of(plan, "unreadable_cell") + files_of(plan, "unreadable_cell", "plan_ledger"):
        # GIVEN the file opens (read-only, as a streaming reader opens it)
        wb = openpyxl.load_workbook(folder / f.path, read_only=True, data_only=True)
        read = []
        # WHEN its rows are read THEN it fails in the middle, after the header was read
        with pytest.raises(ValueError):
            for row in wb.worksheets[0].iter_rows(values_only=True):
                read.append(row)
        assert any(("科技馆编号" in r or "措施编号" in r) for r in read)
        wb.close()


def test_a_csv_cut_in_a_quoted_field_is_rejected_by_the_csv_module(folder, plan):
    for f in files_of(plan, "csv_error"):
        raw = (folder / f.path).read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk")
        for newline in ("\n", None):  # whatever newline mode a reader picks
            with pytest.raises(csv.Error, match="field larger than field limit"):
                list(csv.reader(io.StringIO(text, newline=newline)))


def test_a_zip_bomb_is_small_on_disk_and_inflates_to_hundreds_of_megabytes(folder, plan):
    for f in files_of(plan, "zip_bomb") + files_of(plan, "zip_bomb", "plan_ledger"):
        path = folder / f.path
        with zipfile.ZipFile(path) as z:
            inflated = sum(i.file_size for i in z.infolist())
            sheet = z.getinfo("xl/worksheets/sheet1.xml")
        assert path.stat().st_size < 1 << 20
        assert inflated > 200 << 20 and sheet.file_size / sheet.compress_size > 200


def cfb_streams(data: bytes) -> dict[str, int]:
    """Stream names and sizes from a compound file's directory (header fields per MS-CFB 2.2)."""
    assert data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    sector = 1 << struct.unpack_from("<H", data, 30)[0]
    first_dir = struct.unpack_from("<I", data, 48)[0]
    fat = [struct.unpack_from("<I", data, 512 + sector * 0 + 4 * i)[0] for i in range(sector // 4)]
    entries, s = {}, first_dir
    while s < 0xFFFFFFFA:
        block = data[512 + s * sector : 512 + (s + 1) * sector]
        for off in range(0, sector, 128):
            name_len, kind = struct.unpack_from("<HB", block, off + 64)
            if kind == 2:
                name = block[off : off + name_len - 2].decode("utf-16-le")
                entries[name] = struct.unpack_from("<Q", block, off + 120)[0]
        s = fat[s]
    return entries


def test_an_encrypted_workbook_is_an_ole2_file_with_an_encrypted_package(folder, plan):
    for f in files_of(plan, "encrypted") + files_of(plan, "encrypted", "plan_ledger"):
        data = (folder / f.path).read_bytes()
        streams = cfb_streams(data)
        # THEN it holds Excel's encryption streams, and openpyxl cannot open it
        assert set(streams) == {"EncryptionInfo", "EncryptedPackage"}
        assert streams["EncryptedPackage"] > 1000
        with pytest.raises(zipfile.BadZipFile):
            openpyxl.load_workbook(io.BytesIO(data))


def test_an_instructions_sheet_comes_first_and_the_data_second(folder, plan):
    for f in files_of(plan, "instructions_sheet") + files_of(plan, "instructions_sheet", "plan_ledger"):
        wb = openpyxl.load_workbook(folder / f.path, read_only=True)
        # THEN the first sheet is the instructions, the data sheet the plan names is the second
        assert wb.sheetnames[0] == "填表说明" and f.sheet_index == 1 and wb.sheetnames[1] == f.sheet
        first = rows(wb.worksheets[0])
        assert not any("科技馆编号" in r or "措施编号" in r for r in first)
        assert any("科技馆编号" in r or "措施编号" in r for r in rows(wb.worksheets[1]))
        assert f.rejected is None
        wb.close()


def figures(ws) -> dict[str, int]:
    """接待学生人次 by 科技馆编号 from a report sheet (thousands separators and full-width digits undone)."""
    table = rows(ws)
    head = next(i for i, r in enumerate(table) if "科技馆编号" in r)
    col = table[head].index("接待学生人次")
    plain = str.maketrans("０１２３４５６７８９", "0123456789")
    return {
        r[0]: int(str(r[col]).translate(plain).replace(",", ""))
        for r in table[head + 1 :]
        if r[0] and str(r[0]).startswith("RC")
    }


def test_a_hidden_first_sheet_holds_stale_figures_and_the_visible_one_the_report(folder, plan):
    generated = {f.path: f for f in drops.due_files(CFG, CLOCK, FAULTS, "rural_centre_reports")}
    for f in files_of(plan, "hidden_sheet"):
        wb = openpyxl.load_workbook(folder / f.path)
        hidden, visible = wb.worksheets
        # THEN the first sheet is hidden and the plan names the visible second one
        assert hidden.sheet_state == "hidden" and visible.sheet_state == "visible"
        assert (visible.title, f.sheet_index) == (f.sheet, 1)
        # AND the visible sheet holds the school's figures, the hidden one other figures
        sent = {r.centre_id: r.student_visits for r in generated[f.path].reports}
        assert figures(visible) == sent
        stale = figures(hidden)
        assert set(stale) == set(sent) and all(stale[c] != sent[c] for c in sent)


def test_merged_cells_leave_the_rows_below_empty_and_those_rows_are_quarantined(folder, plan):
    for f in files_of(plan, "merged_cells") + files_of(plan, "merged_cells", "plan_ledger"):
        column = "所属县区" if f.source == "rural_centre_reports" else "措施编号"
        wb = openpyxl.load_workbook(folder / f.path)
        ws = wb[f.sheet]
        (merged,) = [r for r in ws.merged_cells.ranges if r.max_row > r.min_row]  # title rows merge across
        quarantined = {q.row for q in plan.quarantined if q.path == f.path and q.category == "merged_cell"}
        # THEN the rows below the merged range's first read empty in that column, and exactly
        # those rows are quarantined under that column
        table = rows(wb[f.sheet])
        head = next(i for i, r in enumerate(table) if column in r)
        col = table[head].index(column)
        assert table[merged.min_row - 1][col] is not None
        assert all(table[r - 1][col] is None for r in range(merged.min_row + 1, merged.max_row + 1))
        assert quarantined == set(range(merged.min_row + 1, merged.max_row + 1)) != set()
        assert {q.column for q in plan.quarantined if q.path == f.path and q.category == "merged_cell"} == {column}


def test_a_formula_without_a_cached_value_reads_as_none_and_its_row_is_quarantined(folder, plan):
    for f in files_of(plan, "formula_no_cache") + files_of(plan, "formula_no_cache", "plan_ledger"):
        (q,) = [q for q in plan.quarantined if q.path == f.path and q.category == "formula_no_cache"]
        values = openpyxl.load_workbook(folder / f.path, data_only=True)[f.sheet]
        formulas = openpyxl.load_workbook(folder / f.path)[f.sheet]
        header = [c.value for c in next(r for r in formulas.iter_rows() if q.column in [c.value for c in r])]
        cell = f"{openpyxl.utils.get_column_letter(header.index(q.column) + 1)}{q.row}"
        assert values[cell].value is None
        assert formulas[cell].value == q.value and q.value.startswith("=")


@pytest.mark.parametrize(
    ("source", "kind", "category"),
    [
        ("rural_centre_reports", "month_year_typo", "month_out_of_range"),
        ("plan_ledger", "date_year_typo", "date_out_of_range"),
    ],
)
def test_a_year_typo_is_quarantined_while_its_month_is_after_the_as_of_month(plan, source, kind, category):
    for f in files_of(plan, kind, source):
        # GIVEN the clock at the file's upload: the typed month is a year after the data's
        at_upload = drops.drop_plan(CFG, f.submitted, FAULTS)
        (q,) = [q for q in at_upload.quarantined if q.path == f.path and q.category == category]
        assert q.rule == ("R5" if source == "rural_centre_reports" else "R6")
        assert q.value[:7] + "-01" > bj_month(f.submitted)
        # THEN at the end of the world the row is quarantined only if its month is still ahead
        still = any(x.path == f.path and x.row == q.row for x in plan.quarantined)
        assert still == (q.value[:7] + "-01" > bj_month(CLOCK))


@pytest.mark.parametrize(
    ("source", "kind", "category"),
    [
        ("rural_centre_reports", "month_before_plan", "month_out_of_range"),
        ("plan_ledger", "date_before_plan", "date_out_of_range"),
    ],
)
def test_a_date_before_the_plan_is_always_quarantined(plan, source, kind, category):
    for f in files_of(plan, kind, source):
        (q,) = [q for q in plan.quarantined if q.path == f.path and q.category == category]
        assert q.value < "2020-07-01" and q.rule in ("R5", "R6")


def test_the_truth_leaves_out_exactly_the_rejected_files_and_quarantined_rows(plan):
    # GIVEN every report row of every due file, with the plan's verdicts
    rejected = {r.path for r in plan.rejected}
    quarantined = {(q.path, q.row) for q in plan.quarantined}
    files = drops.due_files(CFG, CLOCK, FAULTS, "rural_centre_reports")
    # WHEN the newest unquarantined row wins per (centre, month), by hand
    want: dict = {}
    for f in sorted(files, key=lambda f: (f.submitted, f.path)):
        if f.path in rejected:
            continue
        _, where = drops.report_layout(f)
        for r in f.reports:
            if (f.path, where[id(r)]) not in quarantined:
                want[(r.centre_id, r.month.isoformat())] = r
    # THEN the truth accepts exactly those, and none breaks R5
    got = drops.accepted_reports(CFG, CLOCK, FAULTS)
    assert got.keys() == want.keys() and all(got[k] is want[k] or got[k] == want[k] for k in want)
    registry = drops.registry_centres(CFG, CLOCK, FAULTS)
    assert all("2020-07-01" <= m <= bj_month(CLOCK) and c in registry for c, m in got)
    # AND a broken file's reports are gone unless another file carries them
    lost = {(r.centre_id, r.month.isoformat()) for f in files if f.path in rejected for r in f.reports}
    assert lost - got.keys()


def test_reports_of_centres_the_s1_missing_fault_strips_are_quarantined_as_unknown_centres():
    # GIVEN S1 strips a required field from 30 % of the rural centres
    faults = {"scipop_platform": Faults(missing=0.3)}
    stripped = {
        f"RC{n:05d}"
        for n in range(1, CFG.count(scipop.CENTRES_AT_SF1) + 1)
        if missing_field("rural_centres", f"RC{n:05d}", 0.3)
    }
    # WHEN the truth and the plan are asked
    accepted = drops.accepted_reports(CFG, CLOCK, faults)
    unknown = {q.value for q in drops.drop_plan(CFG, CLOCK, faults).quarantined if q.category == "unknown_centre"}
    # THEN no report of a stripped centre is accepted; each is quarantined under R5
    assert stripped and not {c for c, _ in accepted} & stripped
    plain = drops.accepted_reports(CFG, CLOCK)
    assert {c for c, _ in plain} & stripped <= unknown
    assert {k for k in plain if k[0] not in stripped} == set(accepted)


def test_the_ledger_truth_leaves_out_rejected_workbooks_and_quarantined_rows(plan):
    acts, targets = drops.ledger_rows(CFG, CLOCK, FAULTS)
    plain_acts, plain_targets = drops.ledger_rows(CFG, CLOCK)
    rejected = {r.path for r in plan.rejected if r.path.startswith("plan_ledger/")}
    assert rejected and len(acts) < len(plain_acts)
    assert all(date(2020, 7, 1) <= d <= date(2021, 12, 31) for _, _, d in acts)
    files = drops.due_files(CFG, CLOCK, FAULTS, "plan_ledger")
    quarantined = {(q.path, q.row) for q in plan.quarantined}
    want: dict = {}
    for f in sorted(files, key=lambda f: f.submitted):
        if f.path not in rejected:
            for i, row in enumerate(f.ledger, start=2):
                if (f.path, i) not in quarantined:
                    want[(row[1], row[2], row[3])] = row[4]
    assert acts == want


def test_the_serving_simulator_writes_the_broken_files_and_follows_the_clock(tmp_path):
    # GIVEN the simulator serving with --incoming and both drop faults, clock in early 2021
    specs = ["rural_centre_reports:broken=0.2", "plan_ledger:broken=1"]
    early, late = "2021-02-28T23:59:59+08:00", "2021-12-31T23:59:59+08:00"
    incoming = tmp_path / "incoming"
    with SimulatorProcess(tmp_path / "sim", seed=3, scale=0.1, clock=early, faults=specs, incoming=incoming) as sim:
        for clock in (early, late):
            # WHEN the simulator starts, and when the clock moves, THEN the folder holds
            # exactly the files the plan names
            if clock != early:
                sim.set_clock(clock)
            on_disk = {str(p.relative_to(incoming)) for p in incoming.rglob("*.*")}
            assert on_disk == {f.path for f in drops.drop_plan(CFG, parse_ts(clock), FAULTS).files}
            assert any(f.defect for f in drops.drop_plan(CFG, parse_ts(clock), FAULTS).files if f.path in on_disk)


def test_a_fault_on_a_source_it_does_not_apply_to_stops_the_simulator(tmp_path):
    # a typo in --faults must not silently switch nothing on
    with pytest.raises(RuntimeError, match="exited"):
        SimulatorProcess(tmp_path, seed=3, scale=0.05, faults=["kechuang_orders:broken=0.1"]).start(timeout=60)
    with pytest.raises(ValueError, match="offset APIs only"):
        parse_specs(["kechuang_orders:unordered=1"])
    with pytest.raises(ValueError, match="unknown fault"):
        parse_specs(["plan_ledger:brokn=0.1"])
