"""Why is this number X?: the lineage of one value from the published file.

For every metric, at a county, a prefecture and the province in one month, the explanation
(`dashboard.explain`, which reads only the published file) must give facts that aggregate to
the published value and to the simulator's truth; every fact must say where it came from (a
landing run of the registry's endpoint, or the file, sheet and row the simulator wrote it
into); what was set aside must be exactly the rows the simulator planted; and the new tables
hold no personal data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date

import duckdb
import pytest

from dashboard.data import open_reader
from dashboard.explain import explain
from extract.redact import personal_field
from extract.sources import SOURCES
from simulator.drops import plan
from simulator.faults import PERSONAL_NAME
from simulator.world import WorldConfig, parse_ts

pytestmark = pytest.mark.timeout(600)

NEW_TABLES = ("metric_facts", "set_aside_records", "source_runs")


def _cells(truth: dict) -> list[tuple[str, str, str]]:
    """Per metric and level (county, prefecture, province) the truth has: the largest value of
    a month a third of the way through the metric's months (or the nearest month holding that
    level): (metric_id, region_code, 'YYYY-MM-01')."""
    by_level: dict = defaultdict(lambda: defaultdict(list))
    for (metric, region, month), (level, value) in truth.items():
        by_level[(metric, level)][month].append((value, region))
    cells = []
    for (metric, _level), months in sorted(by_level.items()):
        ordered = sorted(months)
        month = ordered[len(ordered) // 3]
        cells.append((metric, max(months[month])[1], month))
    return cells


@pytest.fixture(scope="module")
def reader(published_world):
    r = open_reader(published_world.published_db)
    yield r
    r.conn.close()


@pytest.fixture(scope="module")
def explained(published_world, reader):
    """The explanation of every chosen cell (metric, region, month)."""
    out = {}
    for metric, region, month in _cells(published_world.truth):
        out[(metric, region, month)] = explain(reader, metric, region, date.fromisoformat(month))
    return out


def test_every_metrics_facts_give_back_the_published_value_and_the_truth(published_world, explained):
    # GIVEN a county, a prefecture and the province of every metric in one month
    truth = published_world.truth
    assert {m for m, _, _ in explained} == {m for m, _, _ in truth}
    levels = defaultdict(set)
    for (metric, region, month), e in explained.items():
        levels[metric].add(truth[(metric, region, month)][0])
        # WHEN the value is explained from the published file alone
        assert e is not None, metric
        # THEN its facts, aggregated as the catalog says, equal the truth and the published value
        expected = truth[(metric, region, month)][1]
        assert e.published is not None and e.published["value"] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert e.total == pytest.approx(expected, rel=1e-9, abs=1e-9), (metric, region, month, e.total, expected)
        assert e.adds_up
        # AND there are facts behind every non-zero value, the page's sample holding them
        assert (e.fact_rows > 0) == (expected != 0) or e.rule["aggregation"] == "report_rate", (metric, region)
        assert len(e.facts) == min(e.fact_rows, 5000)
    # AND every level the truth has for a metric was explained: the province for all of them
    assert all("province" in lv for lv in levels.values())
    assert levels == {m: {lv for (m2, _, _), (lv, _) in truth.items() if m2 == m} for m in levels}
    assert sum("county" in lv for lv in levels.values()) >= 15


def test_every_fact_says_where_it_came_from(published_world, explained):
    # GIVEN the registry's endpoints and the files the simulator dropped (and, for each accepted
    # report, the file the newest row came from)
    endpoints = {(s.name, e.name) for s in SOURCES.values() for e in s.endpoints}
    drop_sources = {s.name for s in SOURCES.values() if s.kind == "files"}
    cfg, clock = WorldConfig(published_world.SEED, published_world.SCALE), parse_ts(published_world.CLOCK)
    newest: dict = {}
    verdicts = [(f, r) for f, r, q in plan._report_verdicts(cfg, clock, None) if q is None]
    for f, r in sorted(verdicts, key=lambda fr: (fr[0].submitted, fr[0].path)):
        newest[(r.centre_id, r.month)] = (f.path, f.sheet)
    dropped = {f.path for f in plan.drop_plan(cfg, clock).files}
    checked = 0
    for (metric, _, _), e in explained.items():
        if e.rule["fact_table"] == "rural_centre_registry":
            continue  # the report rate's rows are the registry's centres; its reports are checked below
        facts = e.facts
        # THEN every fact names a landing run the load recorded, of one of its source's datasets
        assert facts["source_manifest_id"].notna().all(), metric
        assert facts["source_endpoint"].notna().all(), metric
        pairs = set(zip(facts["source"], facts["source_endpoint"], strict=True))
        if "source_file" in facts:
            # AND a spreadsheet row its file (one the simulator dropped), sheet and row
            assert {source for source, _ in pairs} <= drop_sources, (metric, pairs)
            assert facts["source_file"].isin(dropped).all(), metric
            assert (facts["source_row"] > 0).all(), metric
            if e.rule["fact_table"] == "fact_rural_centre_reports":
                shown = set(zip(facts["centre_id"], facts["report_month"], facts["source_file"], strict=True))
                assert {(c, m, newest[(c, m)][0]) for c, m, _ in shown} == shown, metric
                sheets = {(f, s) for f, s in zip(facts["source_file"], facts["source_sheet"], strict=True)}
                wrote = dict(newest.values())  # a CSV has no sheet: the load names it "csv"
                assert all(s == (wrote[f] or "csv") for f, s in sheets), sheets
        else:
            assert pairs <= endpoints, (metric, pairs)
        # AND when it was landed and loaded
        assert facts["source_landed_at"].notna().all() and facts["source_loaded_at"].notna().all()
        checked += len(facts)
    assert checked > 300


def test_source_runs_lists_exactly_the_runs_a_published_row_came_from(published_world):
    # GIVEN the published file, and the landing runs the working database loaded
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        tables = [t for (t,) in conn.execute(
            "select distinct table_name from duckdb_columns() where schema_name = 'metrics' "
            "and column_name = 'source_manifest_id'"
        ).fetchall()]  # fmt: skip
        named = {m for t in tables for (m,) in conn.execute(f"select source_manifest_id from metrics.{t}").fetchall()}
        listed = [m for (m,) in conn.execute("select manifest_id from metrics.source_runs").fetchall()]
    with duckdb.connect(str(published_world.working_db), read_only=True) as conn:
        loaded = {m for (m,) in conn.execute("select manifest_id from meta.loaded_manifests").fetchall()}
    # THEN every run a fact or set-aside record names is listed once, and no other run is
    assert {"fact_orders", "fact_rural_centre_reports", "set_aside_records"} <= set(tables)
    assert len(listed) == len(set(listed))
    assert set(listed) == named - {None}
    assert set(listed) <= loaded


def test_what_was_set_aside_is_what_the_simulator_planted(published_world, reader, explained):
    # GIVEN the rows the simulator planted for a correct pipeline to set aside (HTTP records:
    # none in this world without faults)
    cfg, clock = WorldConfig(published_world.SEED, published_world.SCALE), parse_ts(published_world.CLOCK)
    planted = {(q.path, q.row, q.rule is not None) for q in plan.drop_plan(cfg, clock).quarantined}
    assert len(planted) > 10
    # WHEN the published set-aside records are read
    rows = reader.rows("select source_file, source_row, stage = 'staging', reason_key from metrics.set_aside_records")
    # THEN they are exactly the planted rows, each at the stage the rule belongs to, each with a reason
    assert {(f, r, s) for f, r, s, _ in rows} == planted
    assert all(k for *_, k in rows)
    # AND the explanation of a month's reports shows those of its region and month
    shown = {
        (f, r)
        for (m, _, _), e in explained.items()
        if m.startswith("rural")
        for f, r in e.set_aside[["source_file", "source_row"]].itertuples(index=False)
    }
    by_cell = reader.rows(
        "select s.source_file, s.source_row, s.period_month, coalesce(g.prefecture_code, '') from "
        "metrics.set_aside_records s left join metrics.regions g on g.region_code = s.region_code "
        "where s.dataset = 'reports'"
    )
    cells = {(month, region) for (m, region, month) in explained if m == "rural_centres_reporting"}
    due = {
        (f, r)
        for f, r, month, pref in by_cell
        if any(str(month) == c_month and c_region in ("420000", pref) for c_month, c_region in cells)
    }
    assert due <= shown


def test_the_new_tables_hold_no_personal_data_and_explain_themselves(published_world):
    # GIVEN the tables "why is this number X?" adds to the published file
    cjk = re.compile(r"^[\u4e00-\u9fff]")
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        for table in NEW_TABLES:
            columns = conn.execute(
                "select column_name, comment from duckdb_columns() where schema_name = 'metrics' and table_name = ?",
                [table],
            ).fetchall()
            comment = conn.execute(
                "select comment from duckdb_tables() where schema_name = 'metrics' and table_name = ?", [table]
            ).fetchone()
            # THEN every table and column has its Chinese-then-English comment
            assert comment and cjk.match(comment[0]) and " — " in comment[0], table
            assert [c for c, text in columns if not (text and cjk.match(text) and " — " in text)] == [], table
            # AND no column is personal by its name, and no value a mobile number or the planted name
            assert not [c for c, _ in columns if personal_field(c) or c.startswith("_")], table
            text = str(conn.execute(f"select * from metrics.{table}").fetchall())
            assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text), table
            assert PERSONAL_NAME not in text, table
        # AND the set-aside records carry no value that was written, only keys, codes and reasons
        names = {
            c
            for (c,) in conn.execute(
                "select column_name from duckdb_columns() where table_name = 'set_aside_records'"
            ).fetchall()
        }
        assert "value" not in names
