"""The dashboard's reader of the published file, without a browser: it opens the file
read-only, reopens it when a publish swaps a new file in (os.replace), lets a page that is
still running finish on the version it started with, and writes numbers the Chinese way."""

from __future__ import annotations

import os
import shutil
from datetime import date

import duckdb
import pytest

from dashboard import data
from dashboard.i18n import EN, ZH, delta, month, number


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


def test_dates_stay_dates_and_series_are_the_published_rows(published, published_world):
    reader = data.PublishedDatabase(published).current()
    s = data.series(reader, "orders_placed", data.PROVINCE)
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        rows = conn.execute(
            "select period_month, value from metrics.plan_metric_values where metric_id = 'orders_placed' "
            "and region_code = '420000' order by 1"
        ).fetchall()
    assert list(zip(s["period_month"], s["value"], strict=True)) == rows
    assert all(isinstance(d, date) for d in s["period_month"])


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


def test_a_file_published_before_the_reader_tables_still_serves_every_query_with_codes_for_names(published):
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
    ranking = data.by_region(reader, "orders_placed", month, "prefecture")
    assert list(ranking["name_zh"]) == list(ranking["region_code"])
    assert data.publish_info(reader)["as_of_date"] is None
    assert data.progress(reader).shape[0] >= 0 and data.quarantine(reader).empty
