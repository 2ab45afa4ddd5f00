"""The dashboard in a real browser (Chromium through Playwright) on a published file built
from the simulator: every page loads without a console error; the overview's cards and the
explorer's, map's and progress page's numbers equal the published tables (which the
end-to-end tests tie to the simulator's truth); switching metric, level and month changes
the charts; Chinese renders with an installed CJK font; downloads open with the same rows;
a publish that lands while a page is open shows after a refresh. A screenshot of every page
is saved under the data folder (`<data>/screenshots/dashboard/`) for review."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from datetime import date

import duckdb
import openpyxl
import pytest

from tests.dashboard.conftest import REPO, Console, DashboardServer, parse_shown, settle
from warehouse import paths

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

SHOTS = paths.data_dir() / "screenshots" / "dashboard"
PAGES = {  # sidebar title -> the page's heading and a screenshot name
    "总览": ("一揽子计划实施监测", "overview"),
    "指标查询": ("指标查询", "explorer"),
    "地市分布图": ("地市分布图", "map"),
    "计划进度": ("计划进度", "progress"),
    "数据质量": ("数据质量", "quality"),
    "数据说明": ("数据说明", "about"),
}
PROVINCE = "420000"
SEED_DIVISIONS = REPO / "dbt_project" / "seeds" / "hubei_divisions.csv"


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(published_world):
    return published_world


@pytest.fixture(scope="module")
def server(world, tmp_path_factory):
    s = DashboardServer(world.data_dir, tmp_path_factory.mktemp("dashboard") / "dashboard.log").start()
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


def published(world, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(world.published_db), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def go(page, title: str) -> None:
    """Open a page from the sidebar, as a reader does."""
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).click()
    page.wait_for_function(
        "t => [...document.querySelectorAll('h1')].some(h => h.innerText.includes(t))", arg=PAGES[title][0]
    )
    settle(page)


def choose(page, key: str, option: str) -> None:
    """Pick an option of a selectbox (by its key) as a reader does: open it, click the option.

    Its list closes when the page scrolls under it (as it does while a click scrolls the box
    into view), so the box is scrolled to first and opened again if the list closed."""
    box = page.locator(f'.st-key-{key} [role="combobox"]')
    wanted = page.locator('[role="option"]').filter(has_text=option).first
    for _ in range(3):
        box.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        box.click()
        try:
            wanted.wait_for(state="visible", timeout=3000)
            break
        except Exception:  # the list closed under a scroll: open it again
            page.keyboard.press("Escape")
    wanted.click()
    settle(page)


def table_rows(page, name: str) -> list[list[str]]:
    rows = page.locator(f".st-key-table-{name} table tbody tr")
    return [[c.strip() for c in rows.nth(i).locator("td, th").all_inner_texts()] for i in range(rows.count())]


def table_header(page, name: str) -> list[str]:
    return [c.strip() for c in page.locator(f".st-key-table-{name} table thead th").all_inner_texts()]


def by_header(page, name: str) -> list[dict]:
    header = table_header(page, name)
    return [dict(zip(header, row, strict=True)) for row in table_rows(page, name)]


def assert_shown(text: str, expected: float, what: str) -> None:
    value, tolerance = parse_shown(text)
    assert abs(value - expected) <= tolerance, f"{what}: the page shows {text!r}, the published value is {expected}"


def name_zh(world, metric_id: str) -> str:
    return published(world, "select name_zh from metrics.metric_catalog where metric_id = ?", [metric_id])[0][0]


def month_zh(d: date) -> str:
    return f"{d.year}年{d.month}月"


def values_at(world, metric_id: str, level: str, month: date) -> dict[str, float]:
    return dict(
        published(
            world,
            "select region_code, value from metrics.plan_metric_values where metric_id = ? and region_level = ? "
            "and period_month = ?",
            [metric_id, level, month],
        )
    )


def months_of(world, metric_id: str) -> list[date]:
    return [
        r[0]
        for r in published(
            world,
            "select distinct period_month from metrics.plan_metric_values where metric_id = ? order by 1",
            [metric_id],
        )
    ]


def counties_of(prefecture: str) -> set[str]:
    with SEED_DIVISIONS.open(encoding="utf-8") as fh:
        return {
            r["county_code"]
            for r in csv.DictReader(fh)
            if r["prefecture_code"] == prefecture and r["county_code"] != prefecture
        }


def assert_region_table(page, name: str, expected: dict[str, float]) -> None:
    rows = by_header(page, name)
    shown = {r["地区代码"]: r["数值"] for r in rows}
    assert set(shown) == set(expected), f"{name}: regions shown {sorted(shown)} != published {sorted(expected)}"
    for code, text in shown.items():
        assert_shown(text, expected[code], f"{name} {code}")
    values = [parse_shown(r["数值"])[0] for r in rows]
    assert values == sorted(values, reverse=True), f"{name} is not ranked largest first"


# --- tests ------------------------------------------------------------------------------------
def test_every_page_loads_without_console_errors_and_a_screenshot_of_each_is_saved(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for title, (heading, shot) in PAGES.items():
        go(page, title)
        assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: the page shows an exception"
        assert heading in page.locator("h1").first.inner_text()
        page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        assert (SHOTS / f"{shot}.png").stat().st_size > 10_000
    assert not page.console.errors, "\n".join(page.console.errors)


def test_the_overview_shows_the_latest_publish_and_each_measures_card_equals_the_published_table(page, world):
    publish_id, as_of, latest = published(
        world,
        "select l.publish_id, c.as_of_date, c.latest_month from metrics.publish_log l, metrics.publish_context c "
        "order by l.published_at desc limit 1",
    )[0]
    assert page.locator('[data-role="publish-id"]').inner_text() == publish_id
    assert page.locator('[data-role="as-of"]').inner_text() == f"{as_of.year}年{as_of.month}月{as_of.day}日"
    assert page.locator('[data-role="latest-month"]').inner_text() == month_zh(latest)

    catalog = {
        zh: (metric_id, additive)
        for metric_id, zh, additive in published(
            world, "select metric_id, name_zh, additive_over_months from metrics.metric_catalog"
        )
    }
    measures = [r[0] for r in published(world, "select measure_code from metrics.plan_measures order by 1")]
    assert measures == [f"M0{i}" for i in range(1, 10)]
    checked = 0
    for code in measures:
        card = page.locator(f".st-key-card-{code}")
        label = card.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        metric_id, additive = catalog[label]
        rows = published(
            world,
            "select period_month, value from metrics.plan_metric_values where metric_id = ? and region_code = ? "
            "order by period_month",
            [metric_id, PROVINCE],
        )
        value_text = card.locator('[data-testid="stMetricValue"]').inner_text()
        if not rows:
            assert "暂无数据" in value_text
            continue
        (last_month, last), previous = rows[-1], rows[-2] if len(rows) > 1 else None
        assert_shown(value_text, last, f"{code} {metric_id} latest")
        assert card.locator('[data-role="month"]').inner_text() == month_zh(last_month)
        delta = card.locator('[data-testid="stMetricDelta"]')
        one_month_before = (last_month.year * 12 + last_month.month - 2) // 12, (last_month.month - 2) % 12 + 1
        if previous and (previous[0].year, previous[0].month) == one_month_before:
            assert_shown(delta.inner_text(), last - previous[1], f"{code} {metric_id} change from the month before")
        else:
            assert delta.count() == 0
        if additive:
            assert_shown(card.locator('[data-role="to-date"]').inner_text(), sum(v for _, v in rows), f"{code} to date")
        else:
            assert card.locator('[data-role="to-date"]').count() == 0 and "不可跨月累加" in card.inner_text()
        checked += 1
    assert checked >= 6, "most measures of the test world have data"


def test_the_explorer_shows_the_published_numbers_and_its_charts_follow_metric_level_and_month(page, world):
    go(page, "指标查询")
    metric = "mobile_museum_visitors"
    choose(page, "explorer-measure", "M06")
    choose(page, "explorer-metric", name_zh(world, metric))
    months = months_of(world, metric)
    assert len(months) >= 3
    # the ranking of prefectures: the latest month by default, as published, largest first
    assert_region_table(page, "ranking", values_at(world, metric, "prefecture", months[-1]))

    # level: province -> prefecture (武汉市 by default) changes the line chart to Wuhan's series
    trend = page.locator(".st-key-chart-trend")
    province_chart = trend.screenshot()
    page.locator(".st-key-explorer-level label").filter(has_text="地市").click()
    settle(page)
    assert trend.screenshot() != province_chart, "switching the level did not change the chart"
    page.get_by_text("数据表").first.click()
    settle(page)
    series = dict(
        published(
            world,
            "select strftime(period_month, '%Y-%m'), value from metrics.plan_metric_values "
            "where metric_id = ? and region_code = '420100'",
            [metric],
        )
    )
    shown = {r["月份"]: r["数值"] for r in by_header(page, "trend")}
    assert set(shown) == set(series)
    for m, text in shown.items():
        assert_shown(text, series[m], f"Wuhan {m}")

    # month: an earlier month changes the ranking chart and table
    ranking = page.locator(".st-key-chart-ranking")
    before = ranking.screenshot()
    earlier = months[-4]
    choose(page, "explorer-month", month_zh(earlier))
    assert ranking.screenshot() != before, "switching the month did not change the ranking chart"
    assert_region_table(page, "ranking", values_at(world, metric, "prefecture", earlier))
    # the counties of the chosen prefecture (武汉市) in that month, as published
    counties = {k: v for k, v in values_at(world, metric, "county", earlier).items() if k in counties_of("420100")}
    if counties:
        assert_region_table(page, "counties", counties)

    # metric: another metric of the measure changes the line chart and the ranking
    before = trend.screenshot()
    other = "mobile_museum_student_visitors"
    choose(page, "explorer-metric", name_zh(world, other))
    assert trend.screenshot() != before, "switching the metric did not change the chart"
    # the chosen month stays chosen across metrics (where the new metric has it)
    kept = earlier if earlier in months_of(world, other) else months_of(world, other)[-1]
    assert_region_table(page, "ranking", values_at(world, other, "prefecture", kept))
    assert not page.console.errors, "\n".join(page.console.errors)


def test_the_ranking_downloads_open_as_csv_and_xlsx_with_the_published_rows(page, world, tmp_path):
    go(page, "指标查询")
    metric = "orders_placed"
    choose(page, "explorer-measure", "M02")
    choose(page, "explorer-metric", name_zh(world, metric))
    expected = values_at(world, metric, "prefecture", months_of(world, metric)[-1])
    assert expected
    with page.expect_download() as d:
        page.locator(".st-key-dl-csv-ranking button").click()
    csv_path = tmp_path / d.value.suggested_filename
    d.value.save_as(csv_path)
    with page.expect_download() as d:
        page.locator(".st-key-dl-xlsx-ranking button").click()
    xlsx_path = tmp_path / d.value.suggested_filename
    d.value.save_as(xlsx_path)
    assert csv_path.suffix == ".csv" and xlsx_path.suffix == ".xlsx"

    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        from_csv = {r["region_code"]: float(r["value"]) for r in csv.DictReader(fh)}
    sheet = openpyxl.load_workbook(xlsx_path, read_only=True).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    from_xlsx = {str(r[header.index("region_code")]): float(r[header.index("value")]) for r in rows}
    assert from_csv == expected
    assert from_xlsx == expected
    assert {r[header.index("metric_id")] for r in rows} == {metric}


def test_the_map_colours_the_prefectures_of_the_chosen_metric_and_month_from_the_published_table(page, world):
    go(page, "地市分布图")
    metric = "rural_centre_student_visits"
    choose(page, "map-measure", "M06")
    choose(page, "map-metric", name_zh(world, metric))
    month = months_of(world, metric)[-2]
    before = page.locator(".st-key-chart-map").screenshot()
    choose(page, "map-month", month_zh(month))
    assert page.locator(".st-key-chart-map").screenshot() != before
    assert_region_table(page, "map", values_at(world, metric, "prefecture", month))
    assert page.locator(".st-key-chart-map canvas, .st-key-chart-map svg").count() >= 1


def test_plan_progress_lists_every_target_with_its_published_actual_and_completion(page, world):
    go(page, "计划进度")
    targets = published(
        world,
        "select p.measure_code, c.name_zh, coalesce(r.name_zh, p.region_code), p.actual_to_date, p.completion_ratio, "
        "p.deadline, x.as_of_date from metrics.plan_progress p join metrics.metric_catalog c using (metric_id) "
        "left join metrics.regions r using (region_code) cross join metrics.publish_context x "
        "order by p.measure_code, p.metric_id, p.region_code",
    )
    rows = by_header(page, "progress")
    assert len(rows) == len(targets) > 0
    for row, (measure, metric, region, actual, ratio, deadline, as_of) in zip(rows, targets, strict=True):
        assert (row["措施"], row["指标"], row["地区"]) == (measure, metric, region)
        if actual is not None:
            assert_shown(row["累计完成"], actual, f"{metric} actual to date")
        if ratio is not None:
            assert_shown(row["完成率"], ratio, f"{metric} completion")
        days = (deadline - as_of).days
        assert row["剩余天数"] == (str(days) if days >= 0 else f"已过期 ({-days})")


def test_the_quality_page_shows_the_publish_and_the_quarantine_counts_of_the_published_file(page, world):
    go(page, "数据质量")
    (publish_id,) = published(world, "select publish_id from metrics.publish_log order by published_at desc limit 1")[0]
    assert table_rows(page, "publishes")[0][0] == publish_id
    quarantined = published(world, "select stage, source, reason, records from metrics.quarantine_summary")
    stages = {"接收时": "extract", "建模规则": "staging"}
    shown = (
        {(stages[r["环节"]], r["数据源"], r["原因"]): int(r["记录数"]) for r in by_header(page, "quarantine")}
        if quarantined
        else {}
    )
    assert shown == {(stage, s, reason): n for stage, s, reason, n in quarantined}


def test_chinese_text_renders_with_the_installed_cjk_font(page):
    title = page.locator("h1").first
    text = title.inner_text().strip()
    assert text == "一揽子计划实施监测"
    # the page asks for Noto Sans CJK SC after Streamlit's Latin font, and the browser has it
    family = title.evaluate("e => getComputedStyle(e).fontFamily")
    assert "Noto Sans CJK SC" in family
    assert page.evaluate("t => document.fonts.check('32px \"Noto Sans CJK SC\"', t)", text)
    # what Chromium actually drew the heading's glyphs with (not empty boxes from a missing font)
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "h1"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk = sum(f["glyphCount"] for f in fonts if "CJK" in f["familyName"])
    assert cjk == len(text), f"the heading was drawn with {fonts}"


def test_english_is_a_toggle_with_the_catalogs_english_names_and_plain_thousands(page, world):
    page.locator(".st-key-lang_en label").click()
    settle(page)
    assert page.locator("h1").first.inner_text().strip() == "Package plan monitor"
    assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    label = page.locator(".st-key-card-M02 [data-testid='stMetricLabel']").inner_text().strip()
    (expected,) = published(world, "select name_en from metrics.metric_catalog where metric_id = 'orders_placed'")[0]
    assert label == expected
    value = page.locator(".st-key-card-M04 [data-testid='stMetricValue']").inner_text()
    assert "万" not in value
    rows = published(
        world,
        "select value from metrics.plan_metric_values where metric_id = 'online_classroom_views' and region_code = ? "
        "order by period_month desc limit 1",
        [PROVINCE],
    )
    if rows:
        assert_shown(value, rows[0][0], "M04 in English")


def test_the_dbt_docs_page_is_served_with_the_exposures_and_the_reader_models(server):
    import requests

    resp = requests.get(f"{server.url}/dbt-docs", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    for name in ("plan_dashboard", "analysts_sql", "plan_metric_values_labeled", "regions", "publish_context"):
        assert name in resp.text


def test_a_publish_that_lands_while_the_page_is_open_shows_after_a_refresh(browser, world, tmp_path):
    # GIVEN a dashboard on its own copy of the published world, open in a browser
    data_dir = tmp_path / "data"
    for folder in ("published", "warehouse"):
        shutil.copytree(world.data_dir / folder, data_dir / folder)
    server = DashboardServer(data_dir, tmp_path / "dashboard.log").start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(server.url + "/")
        settle(page)
        old_id = page.locator('[data-role="publish-id"]').inner_text()
        # WHEN the pipeline publishes a new version (a changed value) while the page is open
        working, db = (
            data_dir / "warehouse" / "plan_metrics_work.duckdb",
            data_dir / "published" / "plan_metrics.duckdb",
        )
        with duckdb.connect(str(working)) as conn:
            conn.execute(
                "update metrics.plan_metric_values set value = value + 1000 where metric_id = 'orders_placed' "
                "and region_code = '420000' and period_month = (select max(period_month) from metrics.plan_metric_values "
                "where metric_id = 'orders_placed' and region_code = '420000')"
            )
        code = (
            "import sys; from pathlib import Path; from warehouse.publish import publish; "
            "publish(Path(sys.argv[1]), 'p-refresh-test', 1, 0, None, published_db=Path(sys.argv[2]))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(working), str(db)], capture_output=True, text=True, cwd=REPO, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        # THEN the open page still shows what it showed, and a refresh shows the new publish
        assert page.locator('[data-role="publish-id"]').inner_text() == old_id
        page.reload()
        settle(page)
        assert page.locator('[data-role="publish-id"]').inner_text() == "p-refresh-test"
        with duckdb.connect(str(db), read_only=True) as conn:
            (new_value,) = conn.execute(
                "select value from metrics.plan_metric_values where metric_id = 'orders_placed' and region_code = '420000' "
                "order by period_month desc limit 1"
            ).fetchone()
        assert_shown(
            page.locator(".st-key-card-M02 [data-testid='stMetricValue']").inner_text(),
            new_value,
            "M02 after the publish",
        )
        assert not console.errors, "\n".join(console.errors)
    finally:
        context.close()
        server.stop()
