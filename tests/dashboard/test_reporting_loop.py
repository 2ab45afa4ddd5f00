"""The loop with the people who send the data, walked in Chromium on a simulated world (issue 24):
a county's template is downloaded from 数据报送, filled in for a centre that has not reported
with one wrong value, pre-checked on 上传预检 (the wrong row and its reason shown), dropped and
run through the pipeline (it waits in the return list, nothing of it published), then
corrected, dropped and run again (accepted, fixed in the return list, the county's report
rate moved). At each step the published metrics equal the simulator's truth — with the
corrected report added to it once it is accepted.

The world is a copy of `published_world`'s data folder (its drop folder, landing zone, working
and published databases), so the walk costs two pipeline passes over one new file each: the
S4 drop folder extracted and loaded in this process, then dbt, the quality gate and the publish
each in its own process (`python -m bench.stage`, as the published world's were)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date

import duckdb
import openpyxl
import pytest

from extract.drops import DropSettings, extract_drop_folder
from extract.spreadsheets import REPORT_HEADER
from simulator import drops
from simulator import truth as sim_truth
from simulator.world import WorldConfig, county_by_code, parse_ts
from tests import reporting_truth
from tests.conftest import QUIET, REPO, PublishedWorld, assert_matches_truth
from tests.dashboard.conftest import Console, DashboardServer, parse_shown, settle
from tests.dashboard.test_dashboard_browser import by_header, choose, go
from warehouse.raw_load import load_drop_source

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

S4 = "rural_centre_reports"
CFG = WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE)
CLOCK = parse_ts(PublishedWorld.CLOCK)
AS_OF = date(2021, 12, 31)


class Walk:
    """A copy of the published world that the walk drops files into and runs the pipeline on."""

    def __init__(self, base, world):
        self.base = base
        self.data = base / "data"
        shutil.copytree(world.data_dir, self.data, ignore=shutil.ignore_patterns("tmp"), symlinks=True)
        self.working = self.data / "warehouse" / "plan_metrics_work.duckdb"
        self.published_db = self.data / "published" / "plan_metrics.duckdb"
        self.logs = base / "logs"
        self.logs.mkdir()

    published_values = PublishedWorld.published_values

    def run(self, tag: str) -> None:
        """One pass: the S4 drop folder extracted and loaded, then dbt, the gate and the publish."""
        extract_drop_folder(S4, self.data / "incoming", self.data / "landing", f"walk-{tag}",
                            settings=DropSettings(quiet_seconds=0))  # fmt: skip
        with duckdb.connect(str(self.working)) as conn:
            load_drop_source(conn, S4, self.data / "landing")
        params = {
            "working_db": str(self.working),
            "published_db": str(self.published_db),
            "run_id": f"walk-{tag}",
            "as_of": PublishedWorld.CLOCK,
            "nodes_file": str(self.logs / f"nodes-{tag}.json"),
        }
        results = {}
        for stage in ("dbt", "gate", "publish"):
            if stage == "publish":
                params.update(
                    checks_passed=results["gate"]["checks_passed"],
                    checks_failed=results["gate"]["checks_failed"],
                    invocation_id=results["dbt"]["invocation_id"],
                )
            pfile, rfile = self.logs / f"{stage}-{tag}.params.json", self.logs / f"{stage}-{tag}.result.json"
            pfile.write_text(json.dumps(params))
            env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
            env.update(QUIET, PLAN_METRICS_DATA_DIR=str(self.data))
            out = subprocess.run([sys.executable, "-m", "bench.stage", stage, str(pfile), str(rfile)], cwd=REPO,
                                 env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
            assert out.returncode == 0, f"{stage}: {out.stderr[-2000:]}"
            results[stage] = json.loads(rfile.read_text())
        assert results["gate"]["passed"], results["gate"].get("message")


def _silent_centre() -> tuple[date, str, str]:
    """(month, centre, county): an active centre that sent nothing for the newest month whose
    deadline has passed, in the county with the most such centres."""
    late = {k: v for k, v in reporting_truth.unreported(CFG, CLOCK, AS_OF).items() if v[4]}
    month = max(m for m, _ in late)
    per_county: dict[str, list[str]] = {}
    for (m, cid), v in sorted(late.items()):
        if m == month:
            per_county.setdefault(v[0], []).append(cid)
    county = max(sorted(per_county), key=lambda c: len(per_county[c]))
    return month, per_county[county][0], county


def _fill(template: bytes, centre: str, county_name: str, month: date, students: int) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(template))
    ws = wb["月报"]
    values = {"科技馆编号": centre, "所属县区": county_name, "报告月份": f"{month:%Y-%m}", "开放天数": 20,
              "接待学生人次": students, "接待公众人次": 50, "开展科普活动次数": 3, "设备完好率": 0.9}  # fmt: skip
    for header, value in values.items():
        ws.cell(2, REPORT_HEADER.index(header) + 1, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _precheck(page, path, county: str) -> None:
    go(page, "上传预检")
    choose(page, "precheck-county", county)
    page.locator('.st-key-precheck-file input[type="file"]').set_input_files(str(path))
    settle(page)
    page.locator(".st-key-precheck-run button").click()
    page.wait_for_selector(".st-key-precheck-summary", timeout=60_000)
    settle(page)


def _open(context, url: str):
    """A fresh tab on the dashboard (a new session: what a publish changed shows)."""
    page = context.new_page()
    page.console = Console(page)
    page.goto(url + "/")
    settle(page)
    return page


def _county_page(context, url: str, county: str, month: date) -> dict:
    """The 数据报送 page of a county and a month in a fresh tab: its return list rows by file and
    row, who has not reported, and the rate shown (and no console error on the way)."""
    page = _open(context, url)
    try:
        go(page, "数据报送")
        choose(page, "reporting-county", county)
        choose(page, f"reporting-month-{county}", f"{month.year}年{month.month}月")
        returns = {(r["文件"], r["行号"]): r for r in by_header(page, "returns")}
        unreported = {r["科技馆编号"] for r in by_header(page, "unreported")}
        rate = page.locator('[data-role="report-rate"]').inner_text()
        assert not page.console.errors, "\n".join(page.console.errors)
        return {"returns": returns, "unreported": unreported, "rate": rate}
    finally:
        page.close()


def _assert_rate(text: str, truth: dict, county: str, month: date) -> float:
    expected = truth[("rural_centre_report_rate", county, month.isoformat())][1]
    value, tolerance = parse_shown(text)
    assert abs(value - expected) <= tolerance, (text, expected)
    return expected


def test_a_county_downloads_its_template_fixes_what_the_precheck_and_the_return_list_say_and_its_rate_moves(
    browser, published_world, tmp_path_factory
):
    # GIVEN a copy of the published world and a centre that has not reported for a month
    walk = Walk(tmp_path_factory.mktemp("walk"), published_world)
    month, centre, county = _silent_centre()
    name = county_by_code()[county].name
    school = reporting_truth.registry(CFG, CLOCK)[centre]["school_name"]
    server = DashboardServer(walk.data, walk.base / "dashboard.log").start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN", accept_downloads=True)
    try:
        page = _open(context, server.url)
        before = _county_page(context, server.url, county, month)
        assert centre in before["unreported"]
        rate_before = _assert_rate(before["rate"], published_world.truth, county, month)

        # WHEN the county downloads its template from 数据报送 and fills it in with one wrong value
        go(page, "数据报送")
        choose(page, "reporting-county", county)
        with page.expect_download() as d:
            page.locator(f".st-key-dl-template-{county} button").click()
        template = d.value.path().read_bytes()
        wrong = walk.base / f"{name}月报.xlsx"
        wrong.write_bytes(_fill(template, centre, name, month, students=-5))
        # THEN the pre-check page shows the wrong row, its reason and what to change
        _precheck(page, wrong, county)
        assert "预检未通过：1 行将被退回" in page.locator(".st-key-precheck-summary").inner_text()
        (row,) = by_header(page, "precheck-set-aside")
        assert (row["行号"], row["字段"], row["原因"]) == ("2", "接待学生人次", "负数")
        assert row["如何修改"] == "第 2 行 接待学生人次：应为不小于 0 的整数" and row["填写的值"] == "-5"

        # WHEN it is dropped anyway and the pipeline runs
        dropped = walk.data / "incoming" / S4 / f"{month:%Y-%m}" / wrong.name
        dropped.write_bytes(wrong.read_bytes())
        walk.run("1")
        # THEN nothing of it is published: the metrics are the world's truth as they were
        assert_matches_truth(walk.published_values(), published_world.truth)
        # AND the return list shows the row with its reason, not fixed; the centre is still missing
        after = _county_page(context, server.url, county, month)
        shown = after["returns"][(f"{S4}/{month:%Y-%m}/{wrong.name}", "2")]
        assert (shown["科技馆编号"], shown["字段"], shown["原因"], shown["是否已更正"]) == (
            centre, "接待学生人次", "负数", "未更正")  # fmt: skip
        assert shown["如何修改"] == "应为不小于 0 的整数" and shown["学校名称"] == school
        assert centre in after["unreported"]
        _assert_rate(after["rate"], published_world.truth, county, month)

        # WHEN the corrected file passes the pre-check, is dropped and the pipeline runs again
        fixed = walk.base / f"{name}月报-更正.xlsx"
        fixed.write_bytes(_fill(template, centre, name, month, students=5))
        _precheck(page, fixed, county)
        assert "预检通过：1 行都可以入库" in page.locator(".st-key-precheck-summary").inner_text()
        (dropped.parent / fixed.name).write_bytes(fixed.read_bytes())
        walk.run("2")
        # THEN the report is accepted: the metrics are the truth with it added
        report = drops.Report(centre, school, county, month, 20, 5, 50, 3, 0.9)
        moved = sim_truth.metric_values(CFG, CLOCK, sim_truth.ALL_SOURCES, extra_reports=[report])
        assert_matches_truth(walk.published_values(), moved)
        # AND the return list says the row is fixed, by the corrected file, and the county's
        # report rate moved to the truth's new value
        final = _county_page(context, server.url, county, month)
        assert final["returns"][(f"{S4}/{month:%Y-%m}/{wrong.name}", "2")]["是否已更正"] == "已更正"
        assert centre not in final["unreported"]
        rate_after = _assert_rate(final["rate"], moved, county, month)
        assert rate_after > rate_before
        assert not page.console.errors, "\n".join(page.console.errors)
    finally:
        context.close()
        server.stop()
