"""The dashboard's reader of the published file, without a browser: it opens the file
read-only, reopens it when a publish swaps a new file in (os.replace), lets a page that is
still running finish on the version it started with, answers every page's question with the
simulator's truth for the published world (`world_truth`), and writes numbers the Chinese way."""

from __future__ import annotations

import os
import shutil
from datetime import date

import duckdb
import pytest

from dashboard import data
from dashboard.i18n import EN, ZH, delta, month, number
from tests.dashboard.conftest import PROVINCE


@pytest.fixture
def published(published_world, tmp_path):
    """A copy of the test world's published file, so the test can swap files under it."""
    path = tmp_path / "published" / "plan_metrics.duckdb"
    path.parent.mkdir()
    shutil.copyfile(published_world.published_db, path)
    return path


def swap_in_new_publish(path, publish_id: str) -> None:
    """What a publish does: a new file beside the old one, closed, then os.replace."""
    staged = path.with_name(".staged.duckdb")
    shutil.copyfile(path, staged)
    with duckdb.connect(str(staged)) as conn:
        conn.execute(
            "insert into metrics.publish_log select ?, now() + interval 1 hour, source_watermarks, row_counts, "
            "checks_passed, checks_failed, dbt_invocation_id from metrics.publish_log order by published_at desc limit 1",
            [publish_id],
        )
        conn.execute("update metrics.plan_metric_values set publish_id = ?, value = value + 1", [publish_id])
    os.replace(staged, path)


def test_the_reader_reopens_the_file_after_a_swap_and_a_running_page_keeps_its_version(published):
    db = data.PublishedDatabase(published)
    first = db.current()
    assert db.current() is first  # nothing changed: the same reader, no reopening per page
    old_id, old_total = first.rows("select max(publish_id), sum(value) from metrics.plan_metric_values")[0]
    cursor = first.cursor()  # a page that started before the publish
    swap_in_new_publish(published, "p-next")
    second = db.current()
    assert second is not first and second.publish_id == "p-next"
    assert second.rows("select max(publish_id), sum(value) from metrics.plan_metric_values")[0][0] == "p-next"
    # the page that was running still reads the old file, whole
    assert cursor.execute("select max(publish_id), sum(value) from metrics.plan_metric_values").fetchone() == (
        old_id,
        old_total,
    )
    cursor.close()


def test_the_reader_never_writes_and_says_clearly_when_nothing_is_published(published, tmp_path):
    reader = data.PublishedDatabase(published).current()
    with pytest.raises(duckdb.Error, match="read-only|read only"):
        reader.rows("create table metrics.x as select 1")
    with pytest.raises(data.NothingPublished):
        data.PublishedDatabase(tmp_path / "nowhere" / "plan_metrics.duckdb").current()


def months_apart(a: date, b: date) -> int:
    return (b.year * 12 + b.month) - (a.year * 12 + a.month)


def test_dates_stay_dates_and_a_series_is_the_true_series_month_by_month(published, world_truth):
    reader = data.PublishedDatabase(published).current()
    s = data.series(reader, "orders_placed", data.PROVINCE)
    expected = world_truth.series("orders_placed", PROVINCE)
    assert len(expected) == 18
    assert list(s["period_month"]) == list(expected)
    assert list(s["value"]) == pytest.approx(list(expected.values()))
    assert all(isinstance(d, date) for d in s["period_month"])


def test_every_metrics_card_numbers_and_every_prefecture_ranking_are_the_truth(published, world_truth):
    # GIVEN the published world's file, as the overview and the explorer read it, and a world
    # where every metric has province rows
    reader = data.PublishedDatabase(published).current()
    catalog = data.catalog(reader)
    assert sorted(catalog["metric_id"]) == sorted(world_truth.catalog)
    for metric_id in catalog["metric_id"]:
        series = world_truth.series(metric_id, PROVINCE)
        months, values = list(series), list(series.values())
        assert months, f"the test world has no province row of {metric_id}"
        # WHEN a card asks for the metric's province headline
        h = data.headline(reader, metric_id)
        # THEN it is the latest true month and value, the trend, the month before's value (only
        # when that month is the one just before) and the total to date (only if additive)
        assert (h["month"], h["additive"]) == (months[-1], world_truth.additive(metric_id)), metric_id
        assert h["value"] == pytest.approx(values[-1]), metric_id
        assert [m for m, _ in h["trend"]] == months
        assert [v for _, v in h["trend"]] == pytest.approx(values), metric_id
        if len(months) > 1 and months_apart(months[-2], months[-1]) == 1:
            assert h["previous"] == pytest.approx(values[-2]), metric_id
        else:
            assert h["previous"] is None, metric_id
        if world_truth.additive(metric_id):
            assert h["to_date"] == pytest.approx(sum(values)), metric_id
        else:
            assert h["to_date"] is None, metric_id
        # AND the ranking of prefectures in its first and latest month is that month's truth,
        # named, largest first
        for m in (months[0], months[-1]):
            ranking = data.by_region(reader, metric_id, m, "prefecture")
            expected = world_truth.at(metric_id, "prefecture", m)
            assert dict(zip(ranking["region_code"], ranking["value"], strict=True)) == pytest.approx(expected)
            assert list(ranking["name_zh"]) == [world_truth.names[c] for c in ranking["region_code"]]
            assert list(ranking["value"]) == sorted(ranking["value"], reverse=True)
    # AND both kinds of card were checked: with a total to date and without
    assert {world_truth.additive(m) for m in world_truth.catalog} == {True, False}


def test_the_header_progress_and_quarantine_the_pages_read_are_the_truth(published, world_truth):
    # GIVEN the published world's file
    reader = data.PublishedDatabase(published).current()
    # WHEN the pages read the header, the targets and the quarantine
    info = data.publish_info(reader)
    progress = data.progress(reader)
    q = data.quarantine(reader)
    # THEN the header has the clock's day, the newest true month, each endpoint's newest record
    assert (info["as_of_date"], info["latest_month"]) == (world_truth.as_of, world_truth.latest_month)
    assert info["watermarks"] == world_truth.watermarks
    assert info["row_counts"]["plan_metric_values"] == len(world_truth.values)
    # AND the progress page every target of the ledger, its true actual to date and completion
    assert [(r.measure_code, r.metric_id, r.region_code) for r in progress.itertuples()] == [
        (t["measure"], t["metric_id"], t["region_code"]) for t in world_truth.targets
    ]
    for row, t in zip(progress.itertuples(), world_truth.targets, strict=True):
        assert (row.target_value, row.deadline, row.as_of_month) == (
            t["target"],
            t["deadline"],
            world_truth.latest_month,
        )
        assert (row.actual_to_date, row.completion_ratio) == pytest.approx((t["actual"], t["ratio"])), t["metric_id"]
    # AND the quality page what was set aside, per stage, source, dataset and column
    shown = sorted(zip(q["stage"], q["source"], q["endpoint"], q["column_name"], q["records"], q["files"], strict=True))
    assert shown == world_truth.quarantine


@pytest.mark.parametrize(
    ("value", "unit", "lang", "shown"),
    [
        (1234, "count", ZH, "1,234"),
        (123456, "person_times", ZH, "12.35万人次"),
        (123456789, "cny", ZH, "¥1.23亿"),
        (12345.6, "cny", ZH, "¥1.23万"),
        (999.5, "cny", ZH, "¥999.50"),
        (0.8461, "ratio", ZH, "84.6%"),
        (36.54, "hours", ZH, "36.5小时"),
        (123456, "person_times", EN, "123,456 person-times"),
        (123456789, "cny", EN, "¥123,456,789.00"),
        (None, "count", ZH, "—"),
    ],
)
def test_numbers_are_written_the_chinese_way_in_chinese_and_with_separators_in_english(value, unit, lang, shown):
    assert number(value, unit, lang) == shown


def test_changes_and_months_are_written_for_readers():
    assert delta(-24000, "person_times", ZH) == "-2.40万人次"
    assert delta(3, "count", ZH) == "+3"
    assert delta(0.021, "ratio", EN) == "+2.1 pp"
    assert delta(None, "count", ZH) is None
    assert month(date(2021, 9, 1), ZH) == "2021年9月" and month(date(2021, 9, 1), EN) == "2021-09"


def test_a_file_published_before_the_reader_tables_still_serves_every_query_with_codes_for_names(
    published, world_truth
):
    # GIVEN a publish from before the reader tables (what `make rollback` may bring back)
    with duckdb.connect(str(published)) as conn:
        conn.execute("drop view metrics.plan_metric_values_labeled")
        for table in ("regions", "plan_measures", "publish_context", "quality_warnings", "quarantine_summary"):
            conn.execute(f"drop table metrics.{table}")
    reader = data.PublishedDatabase(published).current()
    # THEN the pages' queries answer, with codes where names would be
    assert list(data.measures(reader)["measure_code"]) == sorted(set(data.catalog(reader)["measure_code"]))
    regions = data.regions(reader)
    assert "420000" in set(regions["region_code"]) and set(regions["level"]) <= {"county", "prefecture", "province"}
    month = data.months(reader, "orders_placed")[-1]
    assert month == world_truth.months("orders_placed")[-1]
    ranking = data.by_region(reader, "orders_placed", month, "prefecture")
    assert list(ranking["name_zh"]) == list(ranking["region_code"])
    assert dict(zip(ranking["region_code"], ranking["value"], strict=True)) == pytest.approx(
        world_truth.at("orders_placed", "prefecture", month)
    )
    assert data.publish_info(reader)["as_of_date"] is None
    # plan_progress predates the reader tables: every true target, with its metric's names
    progress = data.progress(reader)
    assert [(r.metric_id, r.region_code, r.region_name_zh) for r in progress.itertuples()] == [
        (t["metric_id"], t["region_code"], t["region_code"]) for t in world_truth.targets
    ]
    assert list(progress["actual_to_date"]) == pytest.approx([t["actual"] for t in world_truth.targets])
    assert data.quarantine(reader).empty
