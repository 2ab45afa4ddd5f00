"""The dashboard in a real browser (Chromium through Playwright) on a published file built
from the simulator: every page loads without a console error; every number a page shows —
the overview's cards and their trend lines, the explorer's tables and charts, the map's
tiles, the progress page's targets, the quality page's counts — equals the simulator's truth
for the published world (`world_truth`, tests/dashboard/conftest.py), never the file it
reads; switching metric, level and month changes the charts; Chinese renders with an
installed CJK font; downloads open with the same rows; a publish that lands while a page is
open shows after a refresh.

Charts are read through what Vega drew: each bar, point, tile and label of the SVG carries an
accessible description with its fields (`月份: 2021-09; 数值: 1.30万人次`).

A screenshot of every page is saved for review in the first test's temporary folder, e.g.
`/tmp/pytest-of-<user>/pytest-<n>/test_every_page_loads_without_0/screenshots/` (pytest keeps
the last three sessions' folders; the test prints the path, shown with `pytest -rP`)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from datetime import date

import duckdb
import openpyxl
import pytest

from extract.sources import SOURCES, dataset_names
from tests.dashboard.conftest import PROVINCE, REPO, Console, DashboardServer, parse_shown, settle

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PAGES = {  # sidebar title -> the page's heading and a screenshot name
    "总览": ("一揽子计划实施监测", "overview"),
    "指标查询": ("指标查询", "explorer"),
    "地市分布图": ("地市分布图", "map"),
    "计划进度": ("计划进度", "progress"),
    "数据质量": ("数据质量", "quality"),
    "这个数从哪里来": ("这个数从哪里来", "explain"),
    "数据报送": ("数据报送", "reporting"),
    "数据说明": ("数据说明", "about"),
    "上传预检": ("上传预检", "precheck"),
}
MEASURES = [f"M0{i}" for i in range(1, 10)]
STAGES = {"接收时": "extract", "建模规则": "staging"}  # the quality page's 环节 column


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(published_world):
    return published_world


@pytest.fixture(scope="module")
def truth(world_truth):
    return world_truth


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
    """The published file itself: only for what the simulator cannot know (the publish's id)."""
    with duckdb.connect(str(world.published_db), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


# --- reading the page ------------------------------------------------------------------------
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


def chart_marks(page, scope: str, kind: str, wait: bool = True) -> list[dict[str, str]]:
    """The marks of one kind ('bar', 'point', 'rect mark', 'text mark') Vega drew under a CSS
    scope, each as the fields of its accessible description, in drawing order. `wait`: the
    chart must have marks — wait (up to 60 s) for Vega to draw the first one, since a chart's
    SVG appears before its marks on a loaded machine."""
    if wait:
        page.wait_for_selector(f'{scope} [aria-roledescription="{kind}"]', state="attached", timeout=60_000)
    labels = page.locator(f'{scope} [aria-roledescription="{kind}"]').evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    return [dict(part.split(": ", 1) for part in label.split("; ")) for label in labels]


def assert_shown(text: str, expected: float, what: str) -> None:
    value, tolerance = parse_shown(text)
    assert abs(value - expected) <= tolerance, f"{what}: the page shows {text!r}, the truth is {expected}"


def month_zh(d: date) -> str:
    return f"{d.year}年{d.month}月"


def day_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def assert_region_table(page, name: str, expected: dict[str, float]) -> None:
    """A ranked table of regions: the true regions, each with its true value, largest first."""
    rows = by_header(page, name)
    shown = {r["地区代码"]: r["数值"] for r in rows}
    assert set(shown) == set(expected), f"{name}: regions shown {sorted(shown)}, true regions {sorted(expected)}"
    for code, text in shown.items():
        assert_shown(text, expected[code], f"{name} {code}")
    values = [parse_shown(r["数值"])[0] for r in rows]
    assert values == sorted(values, reverse=True), f"{name} is not ranked largest first"


def assert_ranking_chart(page, truth, expected: dict[str, float]) -> None:
    """The ranking chart: one bar per true prefecture, labelled with its true value."""
    bars = {b["地区"]: b["数值"] for b in chart_marks(page, ".st-key-chart-ranking", "bar")}
    names = {truth.names[code]: v for code, v in expected.items()}
    assert set(bars) == set(names), f"ranking chart bars {sorted(bars)}, true prefectures {sorted(names)}"
    for name, text in bars.items():
        assert_shown(text, names[name], f"ranking chart {name}")


def assert_trend_chart(page, expected: dict[date, float], what: str) -> None:
    """The line chart: one point per true month, with its true value."""
    points = {p["月份"]: p["数值"] for p in chart_marks(page, ".st-key-chart-trend", "point")}
    months = {f"{d:%Y-%m}": v for d, v in expected.items()}
    assert set(points) == set(months), f"{what}: chart months {sorted(points)}, true months {sorted(months)}"
    for m, text in points.items():
        assert_shown(text, months[m], f"{what} {m}")


def metric_name(truth, metric_id: str) -> str:
    return truth.catalog[metric_id]["name_zh"]


# --- tests ------------------------------------------------------------------------------------
def test_every_page_loads_without_console_errors_and_a_screenshot_of_each_is_saved(page, tmp_path):
    shots = tmp_path / "screenshots"  # under pytest's basetemp, never the checkout
    shots.mkdir()
    print(f"dashboard screenshots: {shots}")
    for title, (heading, shot) in PAGES.items():
        go(page, title)
        assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: the page shows an exception"
        assert heading in page.locator("h1").first.inner_text()
        page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
        assert (shots / f"{shot}.png").stat().st_size > 10_000
    assert not page.console.errors, "\n".join(page.console.errors)


def test_the_overview_header_and_watermarks_equal_the_truth_of_the_published_world(page, world, truth):
    # GIVEN the overview of the published world
    # THEN its header names the file's publish, the clock's day and the newest true month
    (publish_id,) = published(world, "select publish_id from metrics.publish_log")[0]
    assert page.locator('[data-role="publish-id"]').inner_text() == publish_id
    assert page.locator('[data-role="as-of"]').inner_text() == day_zh(truth.as_of) == "2021年12月31日"
    assert page.locator('[data-role="latest-month"]').inner_text() == month_zh(truth.latest_month)
    # AND the sources' watermarks are the newest record each endpoint served by the clock
    page.locator('[data-testid="stExpander"] summary').filter(has_text="数据源水位").click()
    settle(page)
    shown = {r["数据源"]: r["水位"] for r in by_header(page, "watermarks")}
    assert shown == truth.watermarks
    assert len(shown) == 7  # the seven API endpoints of S1–S3


def test_each_measures_card_shows_its_headline_metrics_true_latest_month_change_total_target_and_trend(page, truth):
    # GIVEN a world where every measure's headline metric has province rows (the cards' names
    # are the catalog's, so the card says which metric it shows)
    by_name = {row["name_zh"]: metric_id for metric_id, row in truth.catalog.items()}
    with_target = set()
    for code in MEASURES:
        card = page.locator(f".st-key-card-{code}")
        label = card.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        metric_id = by_name[label]
        assert truth.catalog[metric_id]["measure_code"] == code, f"card {code} shows {metric_id} of another measure"
        rows = list(truth.series(metric_id, PROVINCE).items())
        assert rows, f"the test world has no province row of {metric_id} (card {code})"
        # THEN the card shows the latest true month and its value
        (last_month, last), previous = rows[-1], rows[-2] if len(rows) > 1 else None
        assert_shown(card.locator('[data-testid="stMetricValue"]').inner_text(), last, f"{code} {metric_id} latest")
        assert card.locator('[data-role="month"]').inner_text() == month_zh(last_month)
        # AND the change from the month before, where the month before has a value
        delta = card.locator('[data-testid="stMetricDelta"]')
        one_month_before = (last_month.year * 12 + last_month.month - 2) // 12, (last_month.month - 2) % 12 + 1
        if previous and (previous[0].year, previous[0].month) == one_month_before:
            assert_shown(delta.inner_text(), last - previous[1], f"{code} {metric_id} change from the month before")
        else:
            assert delta.count() == 0
        # AND the total to date where the metric adds up over months
        if truth.additive(metric_id):
            to_date = card.locator('[data-role="to-date"]').inner_text()
            assert_shown(to_date, sum(v for _, v in rows), f"{code} to date")
        else:
            assert card.locator('[data-role="to-date"]').count() == 0 and "不可跨月累加" in card.inner_text()
        # AND the province target with its completion, where the ledger has one
        target = truth.target(metric_id, PROVINCE)
        completion = card.locator('[data-role="completion"]')
        if target:
            with_target.add(code)
            shown_target = card.inner_text().split("目标", 1)[1].split("·", 1)[0].strip()
            assert_shown(shown_target, target["target"], f"{code} target")
            assert_shown(completion.inner_text(), target["ratio"], f"{code} completion")
        else:
            assert completion.count() == 0
        # AND its trend line has one point per true month, in order
        points = chart_marks(page, f'.st-key-card-{code} [data-testid="stMetricChart"]', "point")
        assert [int(p["x"]) for p in points] == list(range(len(rows))), f"{code} trend points"
        for p, (m, v) in zip(points, rows, strict=True):
            assert_shown(p["y"], v, f"{code} trend {m:%Y-%m}")
    # AND exactly the measures whose headline metric has a province target show a completion
    assert with_target == {"M03", "M04", "M05", "M07", "M08", "M09"}
    assert not page.console.errors, "\n".join(page.console.errors)


def test_the_explorer_shows_the_true_numbers_and_its_charts_follow_metric_level_and_month(page, truth):
    # GIVEN the explorer on a metric of M06 reported by county
    go(page, "指标查询")
    metric = "mobile_museum_visitors"
    choose(page, "explorer-measure", "M06")
    choose(page, "explorer-metric", metric_name(truth, metric))
    months = truth.months(metric)
    assert len(months) == 18
    # THEN the province's line and the ranking of prefectures in the latest month are the truth
    assert_trend_chart(page, truth.series(metric, PROVINCE), "province trend")
    latest = truth.at(metric, "prefecture", months[-1])
    assert_region_table(page, "ranking", latest)
    assert_ranking_chart(page, truth, latest)

    # WHEN the level goes from province to prefecture (武汉市 by default)
    trend = page.locator(".st-key-chart-trend")
    province_chart = trend.screenshot()
    page.locator(".st-key-explorer-level label").filter(has_text="地市").click()
    settle(page)
    # THEN the line chart and its data table are Wuhan's true series
    assert trend.screenshot() != province_chart, "switching the level did not change the chart"
    wuhan = truth.series(metric, "420100")
    assert_trend_chart(page, wuhan, "Wuhan trend")
    page.get_by_text("数据表").first.click()
    settle(page)
    shown = {r["月份"]: r["数值"] for r in by_header(page, "trend")}
    assert set(shown) == {f"{d:%Y-%m}" for d in wuhan}
    for m, text in shown.items():
        assert_shown(text, wuhan[date.fromisoformat(m + "-01")], f"Wuhan {m}")

    # WHEN an earlier month is chosen
    ranking = page.locator(".st-key-chart-ranking")
    before = ranking.screenshot()
    earlier = months[-4]
    choose(page, "explorer-month", month_zh(earlier))
    # THEN the ranking (chart and table) and Wuhan's counties are that month's truth
    assert ranking.screenshot() != before, "switching the month did not change the ranking chart"
    that_month = truth.at(metric, "prefecture", earlier)
    assert_region_table(page, "ranking", that_month)
    assert_ranking_chart(page, truth, that_month)
    counties = truth.counties_of("420100", metric, earlier)
    assert set(counties) == {"420104", "420105"}, "in 2021-09 two of Wuhan's districts hosted a museum stop"
    assert_region_table(page, "counties", counties)

    # WHEN another metric of the measure is chosen
    before = trend.screenshot()
    other = "mobile_museum_student_visitors"
    choose(page, "explorer-metric", metric_name(truth, other))
    # THEN the line chart is Wuhan's series of that metric, and the chosen month stays chosen
    assert trend.screenshot() != before, "switching the metric did not change the chart"
    assert_trend_chart(page, truth.series(other, "420100"), "Wuhan student trend")
    assert earlier in truth.months(other)
    other_month = truth.at(other, "prefecture", earlier)
    assert_region_table(page, "ranking", other_month)
    assert_ranking_chart(page, truth, other_month)
    assert not page.console.errors, "\n".join(page.console.errors)


def open_explanation(page, link_scope: str) -> dict[str, str]:
    """Follow a "这个数从哪里来" link and read the drill-down's summary (value, facts' aggregate, verdict, count)."""
    link = page.locator(f".st-key-explain-{link_scope} a").first
    link.scroll_into_view_if_needed()
    link.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('h1')].some(h => h.innerText.includes('这个数从哪里来'))"
    )
    settle(page)
    page.locator('[data-role="facts-count"]').wait_for(timeout=60_000)
    summary = page.locator(".st-key-explain-summary")
    return {
        role: summary.locator(f'[data-role="{role}"]').inner_text()
        for role in ("published-value", "facts-total", "adds-up", "facts-count")
    }


def test_every_measures_card_opens_the_facts_that_make_its_value(page, truth, tmp_path):
    # GIVEN every measure's card on the overview, and which metrics count one per fact row
    # (their facts' number is the value itself)
    counted_once = {
        row["metric_id"]
        for row in csv.DictReader((REPO / "dbt_project" / "seeds" / "metric_fact_rules.csv").open(encoding="utf-8"))
        if row["value_expression"] == "1" and truth.catalog[row["metric_id"]]["aggregation"] == "sum"
    }
    by_name = {row["name_zh"]: metric_id for metric_id, row in truth.catalog.items()}
    for code in MEASURES:
        go(page, "总览")
        card = page.locator(f".st-key-card-{code}")
        metric_id = by_name[card.locator('[data-testid="stMetricLabel"]').inner_text().strip()]
        last_month, last = list(truth.series(metric_id, PROVINCE).items())[-1]
        # WHEN the reader opens "这个数从哪里来" beside its value
        shown = open_explanation(page, f"card-{code}")
        # THEN the drill-down shows the true value, and its facts add up to it
        assert_shown(shown["published-value"], last, f"{code} {metric_id} explained value")
        assert_shown(shown["facts-total"], last, f"{code} {metric_id} facts' aggregate")
        assert shown["adds-up"].startswith("✓"), (code, shown)
        n = int(shown["facts-count"])
        assert n > 0 or last == 0, (code, shown)
        if metric_id in counted_once:
            assert n == round(last), (code, metric_id, n, last)
        # AND the facts, where they came from, the runs and the publish are shown
        assert page.locator(".st-key-explain-facts").count() == 1
        assert page.locator(".st-key-table-explain-runs, .st-key-table-explain-files").count() >= 1, code
        assert page.locator('.st-key-explain-publish [data-role="publish-id"]').inner_text().strip() not in ("", "—")
        assert page.locator('.st-key-explain-publish [data-role="dbt-invocation"]').inner_text().strip() != ""
        assert f"{last_month:%Y-%m}" in page.url and f"metric={metric_id}" in page.url
    # AND the last one's facts download as CSV, one line per fact
    with page.expect_download() as dl:
        page.locator(".st-key-dl-csv-facts-" + metric_id + "-420000-" + f"{last_month:%Y-%m}" + " button").click()
    path = tmp_path / "facts.csv"
    dl.value.save_as(path)
    with path.open(encoding="utf-8-sig") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == n
    assert not page.console.errors, "\n".join(page.console.errors)


def test_a_ranking_row_and_a_target_open_their_values_explanation(page, truth):
    # GIVEN the explorer's ranking of prefectures for M06's visitors in the latest month
    go(page, "指标查询")
    choose(page, "explorer-measure", "M06")
    metric = "mobile_museum_visitors"
    latest = truth.months(metric)[-1]
    ranked = truth.at(metric, "prefecture", latest)
    top = max(ranked, key=ranked.get)
    # WHEN the reader picks its top row and opens its explanation
    choose(page, "explain-pick-ranking", top)
    shown = open_explanation(page, "row-ranking")
    # THEN the drill-down shows that prefecture's true value, and the facts add up to it
    assert_shown(shown["published-value"], ranked[top], f"ranking row {top}")
    assert_shown(shown["facts-total"], ranked[top], f"ranking row {top} facts")
    assert shown["adds-up"].startswith("✓") and int(shown["facts-count"]) > 0
    # AND from the progress page, a target's metric in the latest month
    go(page, "计划进度")
    shown = open_explanation(page, "row-progress")
    assert shown["adds-up"].startswith("✓"), shown
    assert not page.console.errors, "\n".join(page.console.errors)


def test_a_point_picked_on_the_explorers_line_opens_that_months_explanation(page, truth):
    # GIVEN the explorer's province line of M06's visitors
    go(page, "指标查询")
    choose(page, "explorer-measure", "M06")
    metric = "mobile_museum_visitors"
    series = truth.series(metric, PROVINCE)
    chart_marks(page, ".st-key-chart-trend", "point")
    # WHEN the reader clicks the point of the fourth month
    picked = list(series)[3]
    point = page.locator(f'.st-key-chart-trend [aria-roledescription="point"][aria-label*="{picked:%Y-%m}"]').first
    point.click(force=True)
    settle(page)
    # THEN the link beside the chart names that month, and opens its true value with facts adding up to it
    link = page.locator(".st-key-explain-trend-point a")
    assert month_zh(picked) in link.inner_text(), link.inner_text()
    shown = open_explanation(page, "trend-point")
    assert_shown(shown["published-value"], series[picked], f"picked point {picked:%Y-%m}")
    assert_shown(shown["facts-total"], series[picked], f"picked point {picked:%Y-%m} facts")
    assert shown["adds-up"].startswith("✓")
    assert not page.console.errors, "\n".join(page.console.errors)


def test_the_ranking_downloads_open_as_csv_and_xlsx_with_the_true_rows(page, truth, tmp_path):
    # GIVEN the explorer's ranking of orders placed in the latest month
    go(page, "指标查询")
    metric = "orders_placed"
    choose(page, "explorer-measure", "M02")
    choose(page, "explorer-metric", metric_name(truth, metric))
    expected = truth.at(metric, "prefecture", truth.months(metric)[-1])
    assert len(expected) >= 2
    # WHEN a reader downloads it as CSV and as Excel
    with page.expect_download() as d:
        page.locator(".st-key-dl-csv-ranking button").click()
    csv_path = tmp_path / d.value.suggested_filename
    d.value.save_as(csv_path)
    with page.expect_download() as d:
        page.locator(".st-key-dl-xlsx-ranking button").click()
    xlsx_path = tmp_path / d.value.suggested_filename
    d.value.save_as(xlsx_path)
    assert csv_path.suffix == ".csv" and xlsx_path.suffix == ".xlsx"
    # THEN both files hold the true value of every prefecture with one, and nothing else
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        from_csv = {r["region_code"]: float(r["value"]) for r in csv.DictReader(fh)}
    sheet = openpyxl.load_workbook(xlsx_path, read_only=True).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    from_xlsx = {str(r[header.index("region_code")]): float(r[header.index("value")]) for r in rows}
    assert from_csv == pytest.approx(expected)
    assert from_xlsx == pytest.approx(expected)
    assert {r[header.index("metric_id")] for r in rows} == {metric}


def test_the_map_colours_the_prefectures_with_the_true_values_of_the_chosen_metric_and_month(page, truth):
    # GIVEN the map of a metric some prefectures report and some do not
    go(page, "地市分布图")
    metric = "rural_centre_student_visits"
    choose(page, "map-measure", "M06")
    choose(page, "map-metric", metric_name(truth, metric))
    month = truth.months(metric)[-2]
    expected = truth.at(metric, "prefecture", month)
    assert 0 < len(expected) < 17, "some prefectures have reports that month, some do not"
    # WHEN the month before the latest is chosen
    before = page.locator(".st-key-chart-map").screenshot()
    choose(page, "map-month", month_zh(month))
    # THEN the map changes, and its table is that month's truth
    assert page.locator(".st-key-chart-map").screenshot() != before
    assert_region_table(page, "map", expected)
    # AND the tiles: all 17 prefecture-level units, each written with its true value or 暂无数据
    # (a square holds the name without 市, 恩施土家族苗族自治州 as 恩施州)
    short = {
        (n[:2] + "州" if n.endswith("自治州") else n[:-1] if n.endswith("市") else n): code
        for code, n in truth.names.items()
        if code in truth.prefectures
    }
    labels = {t["地区"]: t["label"] for t in chart_marks(page, ".st-key-chart-map", "text mark") if "label" in t}
    assert set(labels) == set(short) and len(labels) == 17
    for name, text in labels.items():
        code = short[name]
        if code in expected:
            assert_shown(text, expected[code], f"map tile {name}")
        else:
            assert text == "暂无数据", f"map tile {name} shows {text!r} where the truth has no value"
    # AND exactly the prefectures with a value are coloured
    coloured = {
        t["地区"] for t in chart_marks(page, ".st-key-chart-map", "rect mark") if metric_name(truth, metric) in t
    }
    assert coloured == {name for name, code in short.items() if code in expected}


def test_plan_progress_lists_every_target_of_the_ledger_with_its_true_actual_completion_and_days_left(page, truth):
    go(page, "计划进度")
    # GIVEN the ledger's nine targets
    targets = truth.targets
    assert len(targets) == 9
    # THEN the note names the latest true month and the clock's day
    note = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="累计完成值").inner_text()
    assert month_zh(truth.latest_month) in note and day_zh(truth.as_of) in note
    # AND each row is a target with its true actual to date, completion, deadline and days left
    rows = by_header(page, "progress")
    assert len(rows) == len(targets)
    for row, t in zip(rows, targets, strict=True):
        name = metric_name(truth, t["metric_id"])
        assert (row["措施"], row["指标"], row["地区"]) == (t["measure"], name, truth.names[t["region_code"]])
        assert_shown(row["目标"], t["target"], f"{name} target")
        assert_shown(row["累计完成"], t["actual"], f"{name} actual to date")
        assert_shown(row["完成率"], t["ratio"], f"{name} completion")
        assert row["截止日期"] == day_zh(t["deadline"])
        days = (t["deadline"] - truth.as_of).days
        assert row["剩余天数"] == (str(days) if days >= 0 else f"已过期 ({-days})")
    assert {r["剩余天数"] for r in rows} == {"0", "已过期 (122)", "已过期 (184)"}, "due on the as-of day, and past due"
    # AND the chart has one bar per target at its true completion
    bars = {b["target_label"]: b["完成率"] for b in chart_marks(page, ".st-key-chart-progress", "bar")}
    expected = {
        f"{t['measure']} {metric_name(truth, t['metric_id'])} · {truth.names[t['region_code']]}": t["ratio"]
        for t in targets
    }
    assert set(bars) == set(expected)
    for label, text in bars.items():
        assert_shown(text, expected[label], f"completion bar {label}")


def test_the_quality_page_shows_the_true_row_count_warnings_and_quarantine(page, world, truth):
    # GIVEN a world whose drops hold rows and files a correct pipeline sets aside
    assert truth.quarantine
    # WHEN the quality page opens
    go(page, "数据质量")
    # THEN the publish: the file's id, the gate's counts of that run, the true number of metric rows
    (publish_id,) = published(world, "select publish_id from metrics.publish_log")[0]
    gate = world.stages["gate"]
    (publish,) = by_header(page, "publishes")
    assert (publish["发布批次"], publish["通过检查"], publish["未通过检查"]) == (
        publish_id,
        str(gate["checks_passed"]),
        str(gate["checks_failed"]),
    )
    assert publish["指标行数"] == str(len(truth.values))
    # AND the warnings: the records set aside per drop source ("32 of 337 records quarantined"),
    # the staging rule's records ("6 records quarantined: …") and the stale sources ("1 of 5
    # rows unexpected"), with the counts the simulator gives
    warnings = []
    for r in by_header(page, "warnings"):
        counts = re.match(r"(\d+)(?: of (\d+))?", r["观测结果"])
        assert counts and r["级别"] == "warn", r
        warnings.append((r["层级"], tuple(int(n) for n in counts.groups() if n)))
    assert sorted(warnings) == truth.warnings
    # AND the quarantine: per stage, source, dataset and column, the true records and files,
    # sources and datasets by their Chinese names, each reason in Chinese
    source_of = {s.name_zh: s.name for s in SOURCES.values()}
    dataset_of = {(s, zh): d for s, d, _c, _s1, _s2, zh, _en in dataset_names()}
    rows = by_header(page, "quarantine")
    shown = sorted(
        (STAGES[r["环节"]], source_of[r["数据源"]], dataset_of[(source_of[r["数据源"]], r["数据集"])], r["字段"],
         int(r["记录数"]), int(r["文件数"]))
        for r in rows
    )  # fmt: skip
    assert shown == truth.quarantine
    assert {r["原因"] for r in rows} == truth.reasons_zh
    bars = {source_of[b["source"]]: int(b["records"]) for b in chart_marks(page, ".st-key-chart-quarantine", "bar")}
    assert bars == truth.quarantined_per_source and set(bars) == {"rural_centre_reports", "plan_ledger"}


def test_the_about_page_describes_every_published_relation_of_the_file_it_reads(page, world):
    # (it shows no metric number: the file's path, and each table and view with its comment)
    go(page, "数据说明")
    assert str(world.published_db) in page.locator('[data-testid="stMain"]').inner_text()
    relations = [r["表/视图"] for r in by_header(page, "relations")]
    assert relations == [
        f"metrics.{name}"
        for name in (
            "dim_months",
            "dim_service_teams",
            "dim_stops",
            "fact_ledger_activities",
            "fact_ledger_targets",
            "fact_orders",
            "fact_roadshow_projects",
            "fact_roadshows",
            "fact_rural_centre_reports",
            "fact_stop_days",
            "metric_catalog",
            "metric_facts",
            "metricflow_time_spine",
            "plan_measures",
            "plan_metric_values",
            "plan_metric_values_labeled",
            "plan_progress",
            "publish_context",
            "publish_log",
            "quality_warnings",
            "quarantine_reasons",
            "quarantine_summary",
            "regions",
            "report_returns",
            "rural_centre_registry",
            "sem_centre_months",
            "sem_ledger_prefecture_months",
            "sem_stop_months",
            "set_aside_records",
            "source_names",
            "source_runs",
            "unreported_centres",
        )
    ]
    assert all(r["说明"] for r in by_header(page, "relations")), "every relation has its comment"


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


def test_english_is_a_toggle_with_the_catalogs_english_names_and_plain_thousands(page, truth):
    # WHEN a reader switches to English
    page.locator(".st-key-lang_en label").click()
    settle(page)
    # THEN the titles, the catalog's names and the numbers are English
    assert page.locator("h1").first.inner_text().strip() == "Package plan monitor"
    assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    label = page.locator(".st-key-card-M02 [data-testid='stMetricLabel']").inner_text().strip()
    assert label == truth.catalog["orders_placed"]["name_en"]
    # M04's latest province value (over 10,000) is written with separators, not 万
    value = page.locator(".st-key-card-M04 [data-testid='stMetricValue']").inner_text()
    latest = list(truth.series("online_classroom_views", PROVINCE).values())[-1]
    assert latest > 10_000 and "万" not in value and "," in value
    assert_shown(value, latest, "M04 in English")


def test_the_dbt_docs_page_is_served_with_the_exposures_and_the_reader_models(server):
    import requests

    resp = requests.get(f"{server.url}/dbt-docs", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    for name in ("plan_dashboard", "analysts_sql", "plan_metric_values_labeled", "regions", "publish_context"):
        assert name in resp.text


def test_a_publish_that_lands_while_the_page_is_open_shows_after_a_refresh(browser, world, truth, tmp_path):
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
        card = page.locator(".st-key-card-M02 [data-testid='stMetricValue']")
        orders = list(truth.series("orders_placed", PROVINCE).values())
        assert_shown(card.inner_text(), orders[-1], "M02 before the publish")
        # WHEN the pipeline publishes a new version (1000 more orders in the latest month) while
        # the page is open
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
            "import sys; from pathlib import Path; from settings import Settings; from warehouse.publish import publish; "
            "publish(Settings.from_env(), 'p-refresh-test', 1, 0, None, published_db=Path(sys.argv[2]))"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        env["PLAN_METRICS_DATA_DIR"] = str(data_dir)  # DuckDB's spill folder too, never ./data
        result = subprocess.run(
            [sys.executable, "-c", code, str(working), str(db)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        # THEN the open page still shows what it showed, and a refresh shows the new publish
        assert page.locator('[data-role="publish-id"]').inner_text() == old_id
        page.reload()
        settle(page)
        assert page.locator('[data-role="publish-id"]').inner_text() == "p-refresh-test"
        assert_shown(card.inner_text(), orders[-1] + 1000, "M02 after the publish")
        assert not console.errors, "\n".join(console.errors)
    finally:
        context.close()
        server.stop()
