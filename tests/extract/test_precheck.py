"""预检 (`extract/precheck.py`): on a file, the verdicts the pipeline gives it — which rows
load, which are set aside and why, which files are refused whole — without storing anything.
Held to the pipeline on the simulator's drops (the published world's folder, judged by its
extraction and its dbt build), to the simulator's truth on drops carrying every planted
defect, and to the pipeline on the hostile corpus; and the CLI as a sender runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract import precheck, reasons
from extract.drops import DropSettings, extract_drop_folder
from extract.redact import FileName
from extract.sources import SOURCES
from settings import Settings
from simulator import drops
from simulator.faults import Faults
from simulator.world import WorldConfig, parse_ts
from tests.conftest import REPO
from tests.extract.hostile_corpus import HEADER, report_csv, write_corpus
from tests.reporting_truth import CATEGORY_KEY
from warehouse.raw_load import load_drop_source

pytestmark = pytest.mark.timeout(600)
DROPS = ("rural_centre_reports", "plan_ledger")


def _files(incoming: Path, source: str) -> list[Path]:
    return sorted(p for p in (incoming / source).rglob("*") if p.is_file() or p.is_fifo())


def precheck_verdicts(incoming: Path, source: str, registry: precheck.Registry):
    """({(file, sheet, row): "loads" | (column, key, stage)}, {file: key}) of every file of a
    source's folder, as the pre-check sees them (files named relative to the drop folder)."""
    paths = _files(incoming, source)
    settings = Settings.from_env()
    items = [(str(p), precheck.read_path(str(p), settings)) for p in paths]
    verdicts = precheck.check(items, source, registry, settings)
    rows, refused = {}, {}
    for path, v in zip(paths, verdicts, strict=True):
        rel = FileName(os.fsencode(path.relative_to(incoming))).shown()  # as the pipeline names a file
        if v.rejected is not None:
            refused[rel] = v.rejected_key
        for r in v.rows:
            rows[(rel, r.sheet, r.row_number)] = "loads" if r.loads else (r.column, r.reason_key, r.stage)
    return rows, refused


def pipeline_verdicts(conn, source: str, staging: bool):
    """The same, from what the pipeline did: raw rows load; meta.quarantine's rows and the
    staging model's were set aside; meta.received_files' refusals (a superseded raw row, which
    no staging rule judged, counts as loaded)."""
    rows = {}
    for t in SOURCES[source].tables:
        for f, sheet, row in conn.execute(f"select _file_path, _sheet, _row_number from {t.raw_table}").fetchall():
            rows[(f, sheet, row)] = "loads"
    for f, sheet, row, col, key in conn.execute(
        "select file, record ->> 'sheet', row_number, column_name, reason_key from meta.quarantine "
        "where source = ? and row_number is not null",
        [source],
    ).fetchall():
        rows[(f, sheet, row)] = (col, key, "extract")
    if staging:
        model = {
            "rural_centre_reports": "int_rural_centre_reports_checked",
            "plan_ledger": "int_ledger_activities_checked",
        }
        for f, sheet, row, col, key in conn.execute(
            "select source_file_path, source_sheet, source_row_number, quarantine_column, quarantine_reason_key "
            f"from intermediate.{model[source]} where quarantine_reason is not null"
        ).fetchall():
            rows[(f, sheet, row)] = (col, key, "staging")
    refused = {
        f: reasons.key_of(reason)
        for f, reason in conn.execute(
            "select file_path, reason from meta.received_files where source = ? and status = 'rejected'", [source]
        ).fetchall()
    }
    return rows, refused


@pytest.mark.parametrize("source", DROPS)
def test_the_precheck_gives_the_pipelines_verdicts_on_every_file_of_the_simulated_world(published_world, source):
    # GIVEN the published world: its drop folder, what its pipeline did with every file (the
    # working database), and the registry and "as of" of its published file
    registry = precheck.Registry.from_published(published_world.published_db, Settings.from_env())
    assert registry.centres and registry.as_of == date(2021, 12, 31)
    with duckdb.connect(str(published_world.working_db), read_only=True) as conn:
        expected_rows, expected_refused = pipeline_verdicts(conn, source, staging=True)
    # WHEN every file is pre-checked
    rows, refused = precheck_verdicts(published_world.data_dir / "incoming", source, registry)
    # THEN each row comes to what it came to in the pipeline, with the same column and reason,
    # at the same stage, and the same files are refused for the same reasons
    assert rows == expected_rows
    assert refused == expected_refused
    assert any(v != "loads" for v in rows.values())
    if source == "rural_centre_reports":  # the staging rules are applied too: unknown centres
        assert {v[1] for v in rows.values() if v != "loads" and v[2] == "staging"} == {"unknown_centre"}
        assert set(refused.values()) == {"header_not_found"}


FAULT_CFG = WorldConfig(seed=3, scale=0.1)
FAULT_CLOCK = parse_ts("2021-12-31T23:59:59+08:00")
FAULTS = {"rural_centre_reports": Faults(broken=0.2), "plan_ledger": Faults(broken=1.0)}


@pytest.fixture(scope="module")
def broken_drops(tmp_path_factory):
    """The drops with every planted defect (`broken`), and what the pipeline's extraction made
    of them (landed and loaded)."""
    base = tmp_path_factory.mktemp("broken-drops")
    incoming = base / "incoming"
    drops.write_drops(FAULT_CFG, incoming, FAULT_CLOCK, FAULTS)
    with duckdb.connect(str(base / "w.duckdb")) as conn:
        for source in DROPS:
            extract_drop_folder(source, incoming, base / "landing", "run1", settings=DropSettings(quiet_seconds=0))
            load_drop_source(conn, source, base / "landing")
    return base


@pytest.mark.parametrize("source", DROPS)
def test_the_precheck_sets_aside_exactly_the_defects_the_simulator_planted_as_the_extraction_does(broken_drops, source):
    # GIVEN drops carrying every kind of broken file and bad row, and the S1 registry a
    # correct pipeline holds at the clock
    plan = drops.drop_plan(FAULT_CFG, FAULT_CLOCK, FAULTS)
    registry = precheck.Registry(frozenset(drops.registry_centres(FAULT_CFG, FAULT_CLOCK, FAULTS)), date(2021, 12, 31))
    # WHEN every file of the folder is pre-checked
    rows, refused = precheck_verdicts(broken_drops / "incoming", source, registry)
    # THEN the rows set aside are the simulator's, each for its column and reason (R5/R6 by the
    # staging rules, the rest as the file is read), and so are the files refused whole
    truth_rows = {
        (q.path, q.row): (q.column, CATEGORY_KEY[q.category], "staging" if q.rule else "extract")
        for q in plan.quarantined
        if q.path.startswith(source + "/")
    }
    assert {(f, row): v for (f, _, row), v in rows.items() if v != "loads"} == truth_rows
    truth_refused = {r.path: CATEGORY_KEY[r.category] for r in plan.rejected if r.path.startswith(source + "/")}
    assert refused == truth_refused
    assert len({k for _, k, _ in truth_rows.values()}) >= 3 and len(set(truth_refused.values())) >= 3
    # AND what the extraction set aside and refused is what the pre-check says it would
    with duckdb.connect(str(broken_drops / "w.duckdb"), read_only=True) as conn:
        extracted, extracted_refused = pipeline_verdicts(conn, source, staging=False)
    assert {k: v for k, v in rows.items() if v == "loads" or v[2] == "extract"} == {
        k: v for k, v in extracted.items() if v == "loads" and rows.get(k) == "loads" or v != "loads"
    }
    assert refused == extracted_refused


def test_the_precheck_refuses_the_hostile_corpus_as_the_drop_folder_does(tmp_path):
    # GIVEN the hostile corpus in a drop folder, and what the extraction makes of it
    incoming = tmp_path / "incoming"
    source = "rural_centre_reports"
    cases = write_corpus(incoming / source)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        extract_drop_folder(source, incoming, tmp_path / "landing", "run1", settings=DropSettings(quiet_seconds=0))
        load_drop_source(conn, source, tmp_path / "landing")
        expected_rows, expected_refused = pipeline_verdicts(conn, source, staging=False)
    # WHEN each file is pre-checked from its path (no registry: the month rule alone applies)
    rows, refused = precheck_verdicts(incoming, source, precheck.Registry(None, date(2021, 12, 31)))
    # THEN the same files are refused for the same reasons — a FIFO is never waited on, a
    # 100 MB line never read, bombs never inflated — and the same rows load or are set aside
    assert refused == expected_refused
    assert rows == expected_rows
    assert len(refused) == sum(c.outcome == "rejected" for c in cases)
    assert reasons.OTHER not in refused.values()


def _registered_centre(published_world) -> tuple[str, str]:
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        return conn.execute(
            "select centre_id, county_code from metrics.rural_centre_registry where is_active order by centre_id limit 1"
        ).fetchone()


def _run_cli(tmp_path: Path, published_world, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLAN_METRICS_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "extract.precheck", *args, "--published", str(published_world.published_db)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_says_row_by_row_what_to_change_in_chinese_or_english_and_fails_until_nothing_is_set_aside(
    tmp_path, published_world
):
    # GIVEN a report of a registered centre with one wrong value (negative student visits, row 3)
    centre, county = _registered_centre(published_world)
    good = [centre, "甲中学", county, "2021-08", "20", "100", "50", "2", "90%"]
    bad = [centre, "甲中学", county, "2021-09", "20", "-5", "50", "2", "90%"]
    wrong = tmp_path / "月报.csv"
    wrong.write_bytes(report_csv([good, bad]))
    assert HEADER[5] == "接待学生人次"
    # WHEN it is pre-checked
    zh = _run_cli(tmp_path, published_world, str(wrong))
    en = _run_cli(tmp_path, published_world, str(wrong), "--lang", "en")
    # THEN it fails, and says which row loads and what to change in the other, in Chinese …
    assert zh.returncode == 1, zh.stderr
    assert "第 3 行 接待学生人次：应为不小于 0 的整数" in zh.stdout
    assert f"第 2 行  {centre} {county} 2021-08" in zh.stdout and "可以入库 1 行" in zh.stdout
    # … or in English
    assert en.returncode == 1 and "row 3 接待学生人次: must be a whole number of 0 or more" in en.stdout
    # AND once corrected, it passes
    fixed = tmp_path / "月报-更正.csv"
    fixed.write_bytes(report_csv([good, [*bad[:5], "5", *bad[6:]]]))
    ok = _run_cli(tmp_path, published_world, str(fixed))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "都可以入库，共 2 行" in ok.stdout
    # AND a centre the registry does not hold, a month after the as-of one and a file the drop
    # folder would refuse are each said so
    other = tmp_path / "other.csv"
    other.write_bytes(report_csv([["RC99999", "乙", county, "2021-08", "1", "1", "1", "1", "1"], [*good[:3], "2022-01",
                                                                                         *good[4:]]]))  # fmt: skip
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    out = _run_cli(tmp_path, published_world, str(other), str(empty))
    assert out.returncode == 1
    assert "第 2 行 科技馆编号：" + reasons.reason("unknown_centre").fix_zh in out.stdout
    assert "第 3 行 报告月份：" + reasons.reason("month_out_of_range").fix_zh in out.stdout
    assert "整个文件将被退回：文件是空的" in out.stdout
    # AND nothing was stored anywhere: the data folder holds DuckDB's spill folder at most
    assert {p.name for p in (tmp_path / "data").rglob("*") if p.is_file()} == set()
