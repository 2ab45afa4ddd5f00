"""What the published file tells the people who send the S4 reports (issue 24): the return
list (退回清单), who has not reported (未报送清单), the S1 registry, the reasons table and
the sources' Chinese names — checked on `published_world` against the simulator's own account
of the world (`simulator.drops.drop_plan`, the generated registry), never the pipeline's SQL."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date

import duckdb
import pytest

from extract import reasons
from extract.sources import SOURCES
from simulator import drops
from simulator.world import WorldConfig, parse_ts
from tests import reporting_truth as truth
from tests.conftest import PublishedWorld

CFG = WorldConfig(PublishedWorld.SEED, PublishedWorld.SCALE)
CLOCK = parse_ts(PublishedWorld.CLOCK)
AS_OF = date(2021, 12, 31)
S4 = truth.S4


@pytest.fixture(scope="module")
def db(published_world: PublishedWorld):
    with duckdb.connect(str(published_world.published_db), read_only=True) as conn:
        yield conn


def test_the_return_list_holds_every_report_row_and_file_the_simulator_says_is_set_aside(db):
    # GIVEN what the simulator planted in the S4 drops and a correct pipeline sets aside
    expected = truth.return_rows(CFG, CLOCK)
    assert any(e[1] is None for e in expected) and any(e[3] == "unknown_centre" for e in expected)
    # WHEN the published return list is read
    rows = db.execute(
        "select file, row_number, column_name, reason_key, centre_id, report_month, county_code, fixed, "
        "reason_zh, fix_zh, reason_en, fix_en, value, stage from metrics.report_returns"
    ).fetchall()
    # THEN it holds exactly those, with their centre, month and county (a county name that is
    # not Hubei's is placed by the centre's county in the registry)
    got = {r[:7] for r in rows}
    assert got == expected
    # AND none is fixed (the simulator never sends a correction of a bad row), each says in
    # Chinese and in English why and what to change, as the reasons table does
    for r in rows:
        key = r[3]
        assert r[7] is False, r
        assert r[8] == reasons.reason(key).text_zh and r[10] == reasons.reason(key).text_en
        assert r[9].startswith(reasons.reason(key).fix_zh.split("{detail}")[0])
        assert r[13] == ("file" if r[1] is None else "staging" if key == "unknown_centre" else "extract")
    # AND a header that is misspelt names the column it lacks (the simulator misspells 开放天数)
    assert all("开放天数" in r[9] for r in rows if r[3] == "header_not_found")


def test_the_return_list_shows_values_only_as_numbers_dates_or_codes(db):
    plan = drops.drop_plan(CFG, CLOCK)
    written = {(q.path, q.row): q.value for q in plan.quarantined}
    for file, row, key, value in db.execute(
        "select file, row_number, reason_key, value from metrics.report_returns where row_number is not null"
    ).fetchall():
        truth_value = written[(file, row)]
        if key in ("negative", "days_over_31"):  # the number written (a cell read as 1584.0, or text 1,584)
            assert float(value.replace(",", "")) == float(truth_value.replace(",", "")), (file, row)
        elif key == "unknown_centre":
            assert value == truth_value
        elif key == "unknown_county":  # a county name is text: its kind and length only
            assert value == f"text, {len(truth_value)} characters"


def test_who_has_not_reported_is_every_active_centre_without_an_accepted_report_with_its_deadline(db):
    # GIVEN the registry at the clock and the reports a correct pipeline accepts
    registry = truth.registry(CFG, CLOCK)
    expected = truth.unreported(CFG, CLOCK, AS_OF)
    # WHEN the published list is read
    got = {
        (m, cid): tuple(rest)
        for m, cid, *rest in db.execute(
            "select period_month, centre_id, county_code, school_name, deadline, days_overdue, is_overdue "
            "from metrics.unreported_centres"
        ).fetchall()
    }
    # THEN it is exactly those centres and months, with the deadline and the days overdue
    assert expected and got == expected
    # AND for every county and month with a published report rate, the list's count is the
    # rate's complement: rate = 1 - missing / active centres
    per_county = defaultdict(int)
    for (m, _), (county, *_rest) in expected.items():
        per_county[(county, m)] += 1
    rates = db.execute(
        "select region_code, period_month, value from metrics.plan_metric_values "
        "where metric_id = 'rural_centre_report_rate' and region_level = 'county'"
    ).fetchall()
    assert rates
    for county, month, rate in rates:
        active = sum(
            1
            for c in registry.values()
            if c["county_code"] == county
            and c["status"] == "active"
            and c["opened_on"] <= truth.month_end(month).isoformat()
        )
        assert rate == pytest.approx(1 - per_county.get((county, month), 0) / active), (county, month)


def test_the_published_registry_is_the_s1_registry_at_the_clock(db):
    expected = {
        cid: (c["school_name"], c["county_code"], date.fromisoformat(c["opened_on"]), c["status"])
        for cid, c in truth.registry(CFG, CLOCK).items()
    }
    got = {
        r[0]: r[1:]
        for r in db.execute(
            "select centre_id, school_name, county_code, opened_on, status from metrics.rural_centre_registry"
        ).fetchall()
    }
    assert got == expected


def test_the_reasons_table_is_published_as_the_seed_and_names_every_source_and_dataset(db):
    with reasons.SEED.open(encoding="utf-8", newline="") as fh:
        seed = [tuple(v or None for v in r.values()) for r in csv.DictReader(fh)]  # an empty field: NULL
    assert sorted(db.execute("select * from metrics.quarantine_reasons").fetchall()) == sorted(seed)
    names = {
        (s, d): (zh, dzh)
        for s, d, zh, dzh in db.execute(
            "select source, dataset, source_name_zh, dataset_name_zh from metrics.source_names"
        ).fetchall()
    }
    assert names[(S4, "reports")] == ("农村中学科技馆月报", "月报")
    assert names[("scipop_platform", "rural_centres")][0] == "科普服务平台"
    # every source and dataset the quality summary names has its Chinese names
    for source, endpoint in db.execute("select distinct source, endpoint from metrics.quarantine_summary").fetchall():
        assert (source, endpoint) in names
    assert {s for s, _ in names} == set(SOURCES)
