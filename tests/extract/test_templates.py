"""填报模板 (`extract/templates.py`, `make templates`): one workbook per county with the contract's
header, its instructions and its drop-downs; filled in with a county's true reports it loads
through the pipeline's own extraction and staging rules with nothing set aside."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections import Counter

import duckdb
import openpyxl
import pytest

from extract import precheck, templates
from extract.drops import DropSettings, extract_drop_folder
from extract.spreadsheets import REPORT_HEADER
from settings import Settings
from simulator import drops
from simulator import truth as sim_truth
from simulator.world import WorldConfig, county_by_code, parse_ts
from tests.conftest import REPO, PublishedWorld
from warehouse.raw_load import load_drop_source

CFG = WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE)
CLOCK = parse_ts(PublishedWorld.CLOCK)


def _active_by_county() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in sim_truth.registry_at(CFG, CLOCK, None, {}).values():
        if c["status"] == "active":
            out.setdefault(c["county_code"], []).append(c)
    return out


@pytest.fixture(scope="module")
def county():
    """The county and month with the most accepted reports: its active centres and those reports."""
    accepted = drops.accepted_reports(CFG, CLOCK).values()
    per = Counter((r.county_code, r.month) for r in accepted)
    (code, month), _ = max(sorted(per.items()), key=lambda kv: kv[1])
    reports = sorted((r for r in accepted if (r.county_code, r.month) == (code, month)), key=lambda r: r.centre_id)
    return code, sorted(_active_by_county()[code], key=lambda c: c["centre_id"]), reports


@pytest.fixture(scope="module")
def workbook(published_world, county):
    registry, as_of = templates.published_registry(published_world.published_db, Settings.from_env())
    code, _, _ = county
    centres = templates.counties_with_centres(registry)[code]
    return templates.county_template(code, county_by_code()[code].name, centres, as_of)


def fill(data: bytes, reports: list[drops.Report], county_name: str) -> bytes:
    """The template filled in as a school would: ids and month picked from the lists, numbers typed."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb[templates.DATA_SHEET]
    for i, r in enumerate(reports, 2):
        row = {
            "科技馆编号": r.centre_id,
            "所属县区": county_name,
            "报告月份": f"{r.month:%Y-%m}",
            "开放天数": r.days_open,
            "接待学生人次": r.student_visits,
            "接待公众人次": r.public_visits,
            "开展科普活动次数": r.activities,
            "设备完好率": r.equipment,
        }
        for header, value in row.items():
            ws.cell(i, REPORT_HEADER.index(header) + 1, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_template_has_the_contract_header_protected_instructions_and_the_countys_drop_downs(workbook, county):
    code, centres, _ = county
    wb = openpyxl.load_workbook(io.BytesIO(workbook))
    assert wb.sheetnames[:2] == [templates.DATA_SHEET, templates.HELP_SHEET]
    ws = wb[templates.DATA_SHEET]
    # the contract's header exactly, in a protected row; the rows below open for input
    assert [c.value for c in ws[1]] == list(REPORT_HEADER)
    assert ws.protection.sheet and all(c.protection.locked for c in ws[1])
    assert not ws["A2"].protection.locked and not ws["F2"].protection.locked
    assert "VLOOKUP(A2" in ws["B2"].value  # 学校名称 filled by lookup
    # the lists: the county's active centres (the S1 registry at the clock), the county, months
    lists = wb[templates.LIST_SHEET]
    assert lists.sheet_state == "hidden"
    ids = [r[0] for r in lists.iter_rows(min_row=2, values_only=True) if r[0]]
    assert ids == [c["centre_id"] for c in centres]
    names = {r[0]: r[1] for r in lists.iter_rows(min_row=2, values_only=True) if r[0]}
    assert names == {c["centre_id"]: c["school_name"] for c in centres}
    months = [r[3] for r in lists.iter_rows(min_row=2, values_only=True) if r[3]]
    assert months[0] == "2021-12" and months[-1] == "2020-07" and len(months) == 18
    rules = {str(dv.sqref)[0]: dv for dv in ws.data_validations.dataValidation}
    assert rules["A"].type == "list" and rules["A"].formula1 == f"{templates.LIST_SHEET}!$A$2:$A${len(centres) + 1}"
    assert rules["C"].type == "list" and rules["C"].formula1 == f'"{county_by_code()[code].name}"'
    assert rules["D"].type == "list" and rules["D"].formula1.startswith(f"{templates.LIST_SHEET}!$D$2")
    assert (rules["E"].type, rules["E"].operator, rules["E"].formula1, rules["E"].formula2) == (
        "whole",
        "between",
        "0",
        "31",
    )
    for col in "FGH":
        assert (rules[col].type, rules[col].operator, rules[col].formula1) == ("whole", "greaterThanOrEqual", "0")
    assert (rules["I"].type, rules["I"].formula1, rules["I"].formula2) == ("decimal", "0", "1")
    # AND the instructions say what each column must hold and when it is due
    text = "\n".join(str(c.value) for c in wb[templates.HELP_SHEET]["A"] if c.value)
    assert all(h in text for h in REPORT_HEADER) and "次月 5 日前" in text


def test_a_template_filled_with_a_countys_true_reports_loads_with_nothing_set_aside(
    workbook, county, published_world, tmp_path
):
    # GIVEN the county's template filled in with its centres' true reports of a month
    code, _, reports = county
    assert len(reports) >= 2
    filled = fill(workbook, reports, county_by_code()[code].name)
    # WHEN the pipeline's pre-check judges it (parse pool, staging rules, the published registry)
    settings = Settings.from_env()
    registry = precheck.Registry.from_published(published_world.published_db, settings)
    (verdict,) = precheck.check([("filled.xlsx", filled)], "rural_centre_reports", registry, settings)
    # THEN every row loads
    assert verdict.ok and len(verdict.loading) == len(reports) and verdict.skipped == 0
    # AND dropped into a drop folder, the extraction lands exactly the true values
    folder = tmp_path / "incoming" / "rural_centre_reports" / f"{reports[0].month:%Y-%m}"
    folder.mkdir(parents=True)
    (folder / templates.template_name(code, "filled")).write_bytes(filled)
    extract_drop_folder("rural_centre_reports", tmp_path / "incoming", tmp_path / "landing", "run1",
                        settings=DropSettings(quiet_seconds=0))  # fmt: skip
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_drop_source(conn, "rural_centre_reports", tmp_path / "landing")
        got = conn.execute(
            "select centre_id, county_code, report_month, days_open, student_visits, public_visits, activities, "
            "equipment_ok_ratio from raw.rural_centre_reports__reports order by centre_id"
        ).fetchall()
        set_aside = conn.execute("select count(*) from meta.quarantine").fetchone()[0]
    want = sorted(
        (r.centre_id, r.county_code, r.month, r.days_open, r.student_visits, r.public_visits, r.activities)
        for r in reports
    )
    assert [g[:7] for g in got] == want and set_aside == 0
    assert [g[7] for g in got] == pytest.approx([r.equipment for r in sorted(reports, key=lambda r: r.centre_id)])


def test_make_templates_writes_one_workbook_per_county_with_an_active_centre(published_world, tmp_path):
    env = {**os.environ, "PLAN_METRICS_DATA_DIR": str(published_world.data_dir)}
    out = tmp_path / "templates"
    result = subprocess.run(
        [sys.executable, "-m", "extract.templates", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    active = _active_by_county()
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(templates.template_name(c, county_by_code()[c].name) for c in active)
    assert Counter(n.split("_")[0] for n in written) == Counter({c: 1 for c in active})
