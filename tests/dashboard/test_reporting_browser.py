"""The 数据报送 page in Chromium on the published world: for a county, its template (the
county's active centres in the drop-down list), its return list (every row set aside, the
reason and what to change in Chinese, whether it is fixed; downloadable to send back) and who
has not reported for a month beside the county's report rate — every row and number equal to
the simulator's account of the world (tests/reporting_truth.py), never the file it reads."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest

from extract import reasons, templates
from simulator.world import WorldConfig, county_by_code, parse_ts
from tests import reporting_truth
from tests.conftest import PublishedWorld
from tests.dashboard.conftest import Console, DashboardServer, parse_shown, settle
from tests.dashboard.test_dashboard_browser import by_header, choose, go

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CFG = WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE)
CLOCK = parse_ts(PublishedWorld.CLOCK)
AS_OF = date(2021, 12, 31)


@pytest.fixture(scope="module")
def server(published_world, tmp_path_factory):
    s = DashboardServer(published_world.data_dir, tmp_path_factory.mktemp("dashboard") / "dashboard.log").start()
    yield s
    s.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN", accept_downloads=True)
    p = context.new_page()
    p.console = Console(p)
    p.goto(server.url + "/")
    settle(p)
    yield p
    context.close()


def _returns_shown(page) -> set[tuple]:
    return {
        (r["文件"], int(r["行号"]) if r["行号"] else None, r["字段"], r["原因"], r["如何修改"], r["是否已更正"])
        for r in by_header(page, "returns")
    }


def _expected_returns(rows: set[tuple]) -> set[tuple]:
    out = set()
    for file, row, column, key, *_ in rows:
        fix = reasons.reason(key).fix_zh.replace("{detail}", "开放天数")  # the simulator misspells 开放天数
        out.add((file, row, column or "", reasons.reason(key).text_zh, fix, "未更正"))
    return out


def test_a_countys_return_list_unreported_centres_report_rate_and_template_are_the_truth(
    page, published_world, tmp_path
):
    # GIVEN the county with the most rows set aside in the published world, by the truth
    rows = reporting_truth.return_rows(CFG, CLOCK)
    counties = sorted({r[6] for r in rows if r[6]})
    county = max(counties, key=lambda c: sum(r[6] == c for r in rows))
    # WHEN a reader opens 数据报送 and picks the county
    go(page, "数据报送")
    choose(page, "reporting-county", f"{county} {county_by_code()[county].name}")
    # THEN its return list is exactly its rows set aside, each with the reason and what to change in Chinese
    assert _returns_shown(page) == _expected_returns({r for r in rows if r[6] == county})
    n = sum(r[6] == county for r in rows)
    assert page.locator('[data-role="returns-count"]').inner_text() == f"未更正 {n} 处，已更正 0 处。"
    # AND who has not reported for the newest month, and the county's report rate for it
    unreported = reporting_truth.unreported(CFG, CLOCK, AS_OF)
    months = sorted({m for (m, _), v in unreported.items() if v[0] == county} | set(_rates(published_world, county)))
    newest = months[-1]
    expected = {cid: v for (m, cid), v in unreported.items() if m == newest and v[0] == county}
    shown = {r["科技馆编号"]: r for r in by_header(page, "unreported")} if expected else {}
    assert set(shown) == set(expected)
    for cid, (_c, school, deadline, overdue, late) in expected.items():
        assert shown[cid]["学校名称"] == school
        assert shown[cid]["截止日期"] == f"{deadline.year}年{deadline.month}月{deadline.day}日"
        assert shown[cid]["逾期天数"] == (str(overdue) if late else "未到期")
    rate = published_world.truth.get(("rural_centre_report_rate", county, newest.isoformat()))
    text = page.locator('[data-role="report-rate"]').inner_text()
    if rate is None:
        assert text == "本月无已发布的报送率"
    else:
        value, tolerance = parse_shown(text)
        assert abs(value - rate[1]) <= tolerance
    # AND its template lists the county's active centres of the S1 registry
    with page.expect_download() as d:
        page.locator(f".st-key-dl-template-{county} button").click()
    path = tmp_path / d.value.suggested_filename
    d.value.save_as(path)
    assert path.name == templates.template_name(county, county_by_code()[county].name)
    wb = openpyxl.load_workbook(path)
    listed = [r[0] for r in wb[templates.LIST_SHEET].iter_rows(min_row=2, values_only=True) if r[0]]
    active = sorted(c for c, v in reporting_truth.registry(CFG, CLOCK).items() if v["county_code"] == county
                    and v["status"] == "active")  # fmt: skip
    assert listed == active
    # AND the return list downloads as the workbook to send back, its rows those shown
    with page.expect_download() as d:
        page.locator(f".st-key-dl-returns-{county} button").click()
    sheet = list(openpyxl.load_workbook(io.BytesIO(d.value.path().read_bytes())).active.iter_rows(values_only=True))
    assert {(r[0], r[2], r[6] or "") for r in sheet[2:]} == {(r[0], r[1], r[2] or "") for r in rows if r[6] == county}
    assert not page.console.errors, "\n".join(page.console.errors)


def _rates(world, county: str) -> list[date]:
    return [date.fromisoformat(m) for (k, c, m) in world.truth if k == "rural_centre_report_rate" and c == county]


def test_files_refused_whole_are_listed_under_an_unknown_county_with_what_to_change(page):
    refused = {r for r in reporting_truth.return_rows(CFG, CLOCK) if r[1] is None}
    assert refused
    go(page, "数据报送")
    # the last entry of a long list: typed to find it, as a reader would
    page.locator('.st-key-reporting-county [role="combobox"]').click()
    page.keyboard.type("县区不明")
    page.locator('[role="option"]').filter(has_text="县区不明").first.click()
    settle(page)
    assert _returns_shown(page) == _expected_returns(refused)
    assert all("开放天数" in r["如何修改"] for r in by_header(page, "returns"))
