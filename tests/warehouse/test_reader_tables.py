"""The published file explains itself (metrics.md, "Reader tables"): regions and measures
with names, comments in Chinese then English on every table, view and column, the labeled
view, a quality summary without personal data, and dbt's docs page and exposures — checked
on a publish of a small simulated world, against the reference files and the simulator's
truth, never against the pipeline's own SQL."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date

import duckdb
import pytest

from simulator import truth
from simulator.world import WorldConfig, parse_ts
from tests.conftest import REPO, PublishedWorld

SEEDS = REPO / "dbt_project" / "seeds"
CJK = re.compile(r"[\u4e00-\u9fff]")
# the example of docs/readers.md: one query on the published file alone
FEWEST_VISITORS_SQL = """
with last_quarter as (  -- the last calendar quarter that ended on or before the data's "as of" day
    select cast(date_trunc('quarter', as_of_date + interval 1 day) - interval 3 month as date) as q_start
    from metrics.publish_context
)
select r.region_code, r.name_zh, coalesce(sum(v.value), 0) as visitors
from metrics.regions r
cross join last_quarter q
left join metrics.plan_metric_values v
       on v.region_code = r.region_code
      and v.metric_id = 'mobile_museum_visitors'
      and v.period_month >= q.q_start and v.period_month < q.q_start + interval 3 month
where r.level = 'prefecture'
group by r.region_code, r.name_zh
order by visitors, r.region_code
limit 5
"""


@pytest.fixture(scope="module")
def db(published_world: PublishedWorld):
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        yield conn


def reference(name: str) -> list[dict]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_table_view_and_column_of_the_published_file_has_a_comment_in_chinese_then_english(db):
    relations = db.execute(
        "select table_name, comment from duckdb_tables() where schema_name = 'metrics' "
        "union all select view_name, comment from duckdb_views() where schema_name = 'metrics' and not internal"
    ).fetchall()
    names = {r[0] for r in relations}
    assert {"plan_metric_values", "metric_catalog", "plan_progress", "publish_log", "regions", "plan_measures"} <= names
    assert {"plan_metric_values_labeled", "publish_context", "quality_warnings", "quarantine_summary"} <= names
    columns = db.execute(
        "select table_name || '.' || column_name, comment from duckdb_columns() where schema_name = 'metrics'"
    ).fetchall()
    for what, comment in relations + columns:
        assert comment, f"{what} has no comment in the published file"
        first_cjk, first_latin = CJK.search(comment), re.search(r"[A-Za-z]{2,}", comment)
        assert first_cjk and first_latin, f"{what}: {comment!r} is not bilingual"
        assert first_cjk.start() < first_latin.start(), f"{what}: {comment!r} does not start in Chinese"


def test_regions_hold_every_code_of_the_reference_with_its_name_level_and_parent(db):
    divisions = reference("hubei_divisions.csv")
    expected = {"420000": ("湖北省", "province", None, None)}
    for d in divisions:
        expected[d["prefecture_code"]] = (d["prefecture_name"], "prefecture", "420000", d["prefecture_code"])
        if d["county_code"] != d["prefecture_code"]:  # the four province-administered units are prefectures
            expected[d["county_code"]] = (d["county_name"], "county", d["prefecture_code"], d["prefecture_code"])
    rows = db.execute(
        "select region_code, name_zh, level, parent_code, prefecture_code from metrics.regions"
    ).fetchall()
    assert {r[0]: r[1:] for r in rows} == expected
    levels = defaultdict(int)
    for _, (_, level, *_) in expected.items():
        levels[level] += 1
    # 105 county-level units: 101 counties plus the four listed as prefecture-level units
    assert dict(levels) == {"province": 1, "prefecture": 17, "county": 101}
    # every code a published row carries is there, at the same level
    unknown = db.execute(
        "select distinct v.region_code, v.region_level from metrics.plan_metric_values v "
        "left join metrics.regions r on r.region_code = v.region_code and r.level = v.region_level "
        "where r.region_code is null"
    ).fetchall()
    assert not unknown


def test_plan_measures_are_the_nine_measures_of_the_reference_with_titles_and_lead_organisation(db):
    def plain(text: str) -> str:  # the published titles use Chinese quotation marks
        return text.replace("“", '"').replace("”", '"')

    expected = {
        m["measure_code"]: (m["title_zh"], m["title_en"], m["organizer_zh"]) for m in reference("plan_measures.csv")
    }
    rows = db.execute("select measure_code, title_zh, title_en, lead_org from metrics.plan_measures").fetchall()
    assert {code: (plain(zh), en, org) for code, zh, en, org in rows} == expected
    assert sorted(expected) == [f"M0{i}" for i in range(1, 10)]


def test_the_labeled_view_is_plan_metric_values_with_names_and_resolves_in_the_published_file_alone(db):
    assert (
        db.execute("select count(*) from metrics.plan_metric_values_labeled").fetchone()
        == db.execute("select count(*) from metrics.plan_metric_values").fetchone()
    )
    names = {m["metric_id"]: m["name_zh"] for m in reference("metric_definitions.csv")}
    regions = {d["county_code"]: d["county_name"] for d in reference("hubei_divisions.csv")}
    regions.update({d["prefecture_code"]: d["prefecture_name"] for d in reference("hubei_divisions.csv")})
    regions["420000"] = "湖北省"
    for metric_id, metric_name, region_code, region_name in db.execute(
        "select distinct metric_id, metric_name_zh, region_code, region_name_zh from metrics.plan_metric_values_labeled"
    ).fetchall():
        assert metric_name == names[metric_id] and region_name == regions[region_code]
    (sql,) = db.execute("select sql from duckdb_views() where view_name = 'plan_metric_values_labeled'").fetchone()
    assert "plan_metrics_work" not in sql  # it names no other database


def test_the_readme_query_answers_which_prefectures_had_the_fewest_mobile_museum_visitors_last_quarter(db):
    # GIVEN the truth of the world that was published (the simulator's own computation)
    values = truth.metric_values(
        WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE),
        parse_ts(PublishedWorld.CLOCK),
        sources=truth.ALL_SOURCES,
    )
    quarter = {"2021-10-01", "2021-11-01", "2021-12-01"}  # the clock is 2021-12-31: Q4 has just ended
    per_prefecture = defaultdict(float)
    for d in reference("hubei_divisions.csv"):
        per_prefecture[d["prefecture_code"]] += 0.0
    for (metric, region, month), (level, value) in values.items():
        if metric == "mobile_museum_visitors" and level == "prefecture" and month in quarter:
            per_prefecture[region] += value
    names = {d["prefecture_code"]: d["prefecture_name"] for d in reference("hubei_divisions.csv")}
    expected = sorted(per_prefecture.items(), key=lambda kv: (kv[1], kv[0]))[:5]
    # WHEN the readers' guide's query runs on the published file alone
    rows = db.execute(FEWEST_VISITORS_SQL).fetchall()
    # THEN it names the same five prefectures with the same totals
    assert [(code, name) for code, name, _ in rows] == [(code, names[code]) for code, _ in expected]
    assert [v for *_, v in rows] == pytest.approx([v for _, v in expected])
    readme = (REPO / "docs" / "readers.md").read_text(encoding="utf-8")
    assert " ".join(FEWEST_VISITORS_SQL.split()) in " ".join(readme.split()), "docs/readers.md shows this query"


def test_the_quality_summary_counts_every_quarantined_record_and_carries_no_values(db, published_world):
    # GIVEN what the pipeline set aside: at extraction (meta.quarantine) and by the staging
    # rules of the build that was published (int_quarantined_records)
    with duckdb.connect(str(published_world.working_db), read_only=True) as work:
        ledger = {
            **{
                ("extract", s): n
                for s, n in work.execute("select source, count(*) from meta.quarantine group by 1").fetchall()
            },
            **{
                ("staging", s): n
                for s, n in work.execute(
                    "select source, count(*) from intermediate.int_quarantined_records group by 1"
                ).fetchall()
            },
        }
    published = {
        (stage, s): n
        for stage, s, n in db.execute(
            "select stage, source, sum(records) from metrics.quarantine_summary group by 1, 2"
        ).fetchall()
    }
    assert published == ledger and sum(ledger.values()) > 0, "the test world plants bad drop rows"
    assert ("staging", "rural_centre_reports") in ledger, "the test world plants reports of unknown centres"
    columns = {
        r[0]
        for r in db.execute(
            "select column_name from duckdb_columns() where table_name = 'quarantine_summary'"
        ).fetchall()
    }
    assert not columns & {"value", "record", "file", "sample"}
    assert db.execute(
        "select count(*) from metrics.quality_warnings where severity not in ('warn', 'block')"
    ).fetchone() == (0,)


def test_no_phone_number_reaches_any_text_of_the_published_file(db):
    phone = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    for table, column in db.execute(
        "select table_name, column_name from duckdb_columns() where schema_name = 'metrics' "
        "and data_type in ('VARCHAR', 'JSON')"
    ).fetchall():
        for (text,) in db.execute(f'select distinct "{column}"::varchar from metrics.{table}').fetchall():
            assert not (text and phone.search(text)), f"metrics.{table}.{column} holds a phone number: {text[:80]!r}"


def test_publish_context_says_what_the_data_is_as_of(db):
    publish_id, as_of, plan_start, latest = db.execute("select * from metrics.publish_context").fetchone()
    assert (
        publish_id == db.execute("select publish_id from metrics.publish_log order by published_at desc").fetchone()[0]
    )
    assert as_of == date(2021, 12, 31) and plan_start == date(2020, 7, 1)
    assert latest == db.execute("select max(period_month) from metrics.plan_metric_values").fetchone()[0]


def test_dbt_declares_the_dashboard_and_analysts_as_exposures_and_the_docs_page_is_published(published_world):
    manifest = json.loads((published_world.data_dir / "dbt" / "target" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert exposures["plan_dashboard"]["type"] == "dashboard"
    assert exposures["analysts_sql"]["type"] == "analysis"
    published_models = {
        "model.plan_metrics.plan_metric_values",
        "model.plan_metrics.metric_catalog",
        "model.plan_metrics.plan_progress",
    }
    for e in exposures.values():
        assert published_models <= set(e["depends_on"]["nodes"])
    page = published_world.published_db.parent / "plan_metrics_docs.html"
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'ng-app="dbt"' in html  # dbt's docs site, one file
    for name in ("plan_dashboard", "analysts_sql", "plan_metric_values_labeled", "publish_context"):
        assert name in html  # the manifest is inlined
