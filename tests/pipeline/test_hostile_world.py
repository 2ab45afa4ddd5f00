"""A simulated world whose uploads and answers are hostile, in two phases, through the whole
pipeline (extract → load → dbt → gate → publish, each stage in its own process as the DAGs
call them):

- the drop folders' files arrive under hostile names (GBK bytes, Latin-1, a newline, a
  leading `-rf `, a right-to-left override, ~240 bytes: the simulator's `names` fault), with
  senders' clocks years off (`old_mtime`: a correction can carry a 2019 mtime), some broken;
- the hostile corpus (tests/extract/hostile_corpus.py) sits in the folder too;
- a person's name and phone are typed into every kind of cell of an upload and into its
  file name, and the APIs send a person's name and phone under field names the contract
  does not know (`personal` fault) beside their own personal field (`contact_phone`).

Each phase publishes every value equal to the simulator's truth, and afterwards no planted
or sent personal value is found in the landing zone, the working database, the logs, the
quality reports or the published file — only in restricted storage, where it is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import openpyxl
import pytest

from simulator import orders, truth
from simulator.faults import PERSONAL_NAME, personal_fields
from simulator.process import SimulatorProcess
from simulator.sources import parse_specs
from simulator.world import WorldConfig, parse_ts
from tests.conftest import assert_matches_truth
from tests.extract.hostile_corpus import write_corpus

pytestmark = pytest.mark.timeout(900)

SEED, SCALE = 31, 0.1
PHASES = ("2021-03-31T23:59:59+08:00", "2021-12-31T23:59:59+08:00")
SPECS = [
    "rural_centre_reports:names=0.2,old_mtime=0.4,broken=0.05",
    "plan_ledger:names=0.3,old_mtime=0.5",
    "kechuang_orders:personal=0.05",
    "scipop_platform:personal=0.05",
]
PHONE = "13912345678"
PLANT = f"{PERSONAL_NAME} {PHONE}"
REPORT_HEADER = ["科技馆编号", "学校名称", "所属县区", "报告月份", "开放天数", "接待学生人次", "接待公众人次",
                 "开展科普活动次数", "设备完好率", "填报人", "联系电话"]  # fmt: skip


def plant_personal_data(incoming: Path) -> None:
    """An upload named after its sender, with the sender's name and phone typed into each kind
    of cell in turn (one row each), on a centre the registry does not hold (so whatever is
    not refused at extraction is set aside by staging: the truth does not change)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "月报"
    ws.append(REPORT_HEADER)
    good = ["RC99998", "某中学", "421202", "2021-02", 20, 100, 50, 2, "90%"]
    for column in range(9):  # 科技馆编号 … 设备完好率, 学校名称 included (never read)
        row = list(good)
        row[column] = PLANT
        ws.append([*row, PERSONAL_NAME, PHONE])
    path = incoming / "rural_centre_reports" / "2021-02" / f"{PERSONAL_NAME}{PHONE}的月报.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    ledger = openpyxl.Workbook()
    ws = ledger.active
    ws.title = "台账"
    ws.append(["措施编号", "指标代码", "地区代码", "日期", "数值", "说明"])
    row = ["M07", "policy_reports", "420000", "2019-05-01", 1, "ok"]  # dated before the plan: set aside
    for column in range(6):
        planted = list(row)
        planted[column] = PLANT
        ws.append(planted)
    ledger.save(incoming / "plan_ledger" / f"{PERSONAL_NAME}_台账.xlsx")


def run_phase(sim, tag: str, base: Path, clock: str) -> dict:
    from bench.run import pipeline_pass

    run = pipeline_pass(tag, base / "data", sim.info, base / "incoming", parse_ts(clock), base / "logs" / tag)
    assert run["ok"], f"phase {tag}: the {run.get('failed_stage')} stage failed: {run['stages']}"
    db = base / "data" / "published" / "plan_metrics.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select metric_id, region_code, strftime(period_month, '%Y-%m-%d'), region_level, value, unit, publish_id "
            "from metrics.plan_metric_values"
        ).fetchall()
    return {(m, r, p): (lvl, v, u, pid) for m, r, p, lvl, v, u, pid in rows}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-world")
    incoming = base / "incoming"
    published = {}
    with SimulatorProcess(
        base / "sim", seed=SEED, scale=SCALE, clock=PHASES[0], incoming=incoming, faults=SPECS
    ) as sim:
        plant_personal_data(incoming)
        cases = write_corpus(incoming / "rural_centre_reports", month="2021-01")
        published["phase1"] = run_phase(sim, "phase1", base, PHASES[0])
        sim.set_clock(PHASES[1])
        published["phase2"] = run_phase(sim, "phase2", base, PHASES[1])
    os.unlink(os.fsencode(incoming / "rural_centre_reports" / "2021-01") + b"/pipe.csv")  # a FIFO: not for rglob
    return {"base": base, "published": published, "cases": cases}


@pytest.mark.parametrize("phase, clock", [("phase1", PHASES[0]), ("phase2", PHASES[1])])
def test_each_phase_publishes_every_value_equal_to_the_truth(world, phase, clock):
    expected = truth.metric_values(
        WorldConfig(SEED, SCALE), parse_ts(clock), sources=truth.ALL_SOURCES, faults=parse_specs(SPECS)
    )
    assert_matches_truth(world["published"][phase], expected)


def test_files_under_hostile_names_and_with_old_clocks_were_received(world):
    # the simulator wrote some files under each hostile kind of name, and the pipeline read
    # them: the raw layer holds rows from names it could only show escaped or re-decoded
    db = world["base"] / "data" / "warehouse" / "plan_metrics_work.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        paths = [
            p for (p,) in conn.execute("select distinct _file_path from raw.rural_centre_reports__reports").fetchall()
        ]
        statuses = dict(conn.execute("select status, count(*) from meta.received_files group by 1").fetchall())
    assert any(p.endswith("[gb18030 name]") for p in paths)
    assert any("\\n2021年补报" in p for p in paths) and any("/-rf " in p for p in paths)
    assert any("\\u202e" in p for p in paths)
    assert statuses["accepted"] > 100 and statuses["rejected"] >= len(
        [c for c in world["cases"] if c.outcome == "rejected"]
    )


def _personal_values() -> set[str]:
    """Every name and phone the world sent or the test planted."""
    cfg = WorldConfig(SEED, SCALE)
    values = {PERSONAL_NAME, PHONE, "张老师"}
    for v in orders.order_versions(cfg):
        if v.body.get("contact_phone"):
            values.add(v.body["contact_phone"])
        values.add(personal_fields("orders", v.body["order_id"])["contactMobile"])
    return values


def _text_of_tables(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as conn:
        tables = conn.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        return "".join(str(conn.execute(f'select * from "{s}"."{t}"').fetchall()) for s, t in tables)


def test_no_personal_value_leaves_restricted_storage(world):
    data, logs = world["base"] / "data", world["base"] / "logs"
    personal = _personal_values()
    assert len(personal) > 50
    places = {
        "landing zone": "".join(p.read_text(errors="replace") for p in (data / "landing").rglob("*") if p.is_file()),
        "working database": _text_of_tables(data / "warehouse" / "plan_metrics_work.duckdb"),
        "logs": "".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file()),
        "quality reports": "".join(p.read_text(errors="replace") for p in (data / "quality").rglob("*") if p.is_file()),
        "published file": _text_of_tables(data / "published" / "plan_metrics.duckdb"),
    }
    assert places["quality reports"] and places["logs"] and places["landing zone"]
    leaks = {where: sorted(v for v in personal if v in text)[:5] for where, text in places.items()}
    assert not any(leaks.values()), leaks
    # AND the planted values are kept where they belong: beside the original, restricted
    notes = "".join(p.read_text() for p in (data / "restricted").rglob("*.notes.jsonl"))
    assert PLANT in notes and f"{PERSONAL_NAME}{PHONE}" in notes
    assert ((data / "restricted").stat().st_mode & 0o777) == 0o700
