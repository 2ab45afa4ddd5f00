"""The drop-folder extractors on the simulator's S4/S5 drops: every messy form it writes loads
to the right values, and the quarantine holds exactly the bad rows and files it planted."""

from __future__ import annotations

import duckdb
import pytest

from extract.api import extract_endpoint
from extract.drops import DropSettings, extract_drop_folder
from extract.http_client import ApiClient
from extract.sources import RURAL_CENTRES
from simulator import drops
from simulator.process import SimulatorProcess
from simulator.world import WorldConfig, parse_ts
from warehouse.raw_load import load_drop_source, load_endpoint

# the simulator and these tests write each file complete before the extract: no quiet period
NO_QUIET = DropSettings(quiet_seconds=0)

SEED, SCALE = 3, 0.1
CFG = WorldConfig(SEED, SCALE)
CLOCK_1 = "2020-12-31T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The S1 registry and both drop folders extracted and loaded twice, the clock moved between."""
    base = tmp_path_factory.mktemp("drops")
    incoming, landing, db = base / "incoming", base / "landing", base / "w.duckdb"
    with SimulatorProcess(base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1, incoming=incoming) as sim:
        for n, clock in enumerate((CLOCK_1, CLOCK_2)):
            sim.set_clock(clock)
            src = sim.source("scipop_platform")
            extract_endpoint(ApiClient(src["base_url"], src["token"]), RURAL_CENTRES, landing, f"run{n}", None)
            with duckdb.connect(str(db)) as conn:
                load_endpoint(conn, RURAL_CENTRES, landing)
            for source in ("rural_centre_reports", "plan_ledger"):
                extract_drop_folder(source, incoming, landing, f"run{n}", settings=NO_QUIET)
                with duckdb.connect(str(db)) as conn:
                    load_drop_source(conn, source, landing)
    return db


def test_the_quarantine_holds_exactly_the_planted_bad_rows(loaded):
    # reports of centres the S1 registry does not hold are set aside by dbt, not at load
    # (tests/pipeline checks them end to end): everything else planted is quarantined here
    planted = {
        (path, row, column)
        for path, row, column, _value, reason in drops.planted_bad_rows(CFG, parse_ts(CLOCK_2))
        if reason != "unknown centre"
    }
    with duckdb.connect(str(loaded), read_only=True) as conn:
        got = set(
            conn.execute(
                "select file, row_number, column_name from meta.quarantine where row_number is not null"
            ).fetchall()
        )
    assert planted, "the simulator planted bad rows"
    assert got == planted


def test_files_with_a_broken_header_are_rejected_whole(loaded):
    rejected = {path for path, _reason in drops.rejected_files(CFG, parse_ts(CLOCK_2))}
    with duckdb.connect(str(loaded), read_only=True) as conn:
        got = {
            r[0] for r in conn.execute("select file_path from meta.received_files where status = 'rejected'").fetchall()
        }
        in_raw = conn.execute(
            "select count(*) from raw.rural_centre_reports__reports where _file_path in (select unnest(?))",
            [sorted(rejected)],
        ).fetchone()[0]
    assert rejected and got == rejected
    assert in_raw == 0


def test_every_accepted_report_has_the_values_the_school_sent_newest_file_winning(loaded):
    truth = drops.accepted_reports(CFG, parse_ts(CLOCK_2))
    with duckdb.connect(str(loaded), read_only=True) as conn:
        rows = conn.execute(
            """select centre_id, strftime(report_month, '%Y-%m-%d'), county_code, days_open, student_visits,
                      public_visits, activities, equipment_ok_ratio
               from raw.rural_centre_reports__reports
               -- the registry rule is dbt's (rows of unknown centres load and are set aside there)
               where centre_id in (select centre_id from raw.scipop_platform__rural_centres)
               qualify row_number() over (partition by centre_id, report_month
                                          order by _file_mtime desc, _file_path desc, _row_number desc) = 1"""
        ).fetchall()
    got = {(r[0], r[1]): r[2:] for r in rows}
    want = {
        k: (r.county_code, r.days_open, r.student_visits, r.public_visits, r.activities, r.equipment)
        for k, r in truth.items()
    }
    assert set(got) == set(want)
    wrong = [(k, got[k], want[k]) for k in want if got[k][:5] != want[k][:5] or abs(got[k][5] - want[k][5]) > 1e-6]
    assert not wrong, wrong[:5]


def test_the_ledger_loads_activities_and_targets_with_newer_workbooks_winning(loaded):
    acts, targets = drops.ledger_rows(CFG, parse_ts(CLOCK_2))
    with duckdb.connect(str(loaded), read_only=True) as conn:
        got_acts = dict(
            ((m, r, str(d)), v)
            for m, r, d, v in conn.execute(
                """select metric_id, region_code, activity_date, value from raw.plan_ledger__activities
               qualify row_number() over (partition by metric_id, region_code, activity_date
                                          order by _file_mtime desc, _file_path desc, _row_number desc) = 1"""
            ).fetchall()
        )
        got_targets = {
            (m, r): (v, str(d))
            for m, r, v, d in conn.execute(
                """select metric_id, region_code, target_value, deadline from raw.plan_ledger__targets
               qualify row_number() over (partition by metric_id, region_code
                                          order by _file_mtime desc, _file_path desc, _row_number desc) = 1"""
            ).fetchall()
        }
    assert {(m, r, str(d)): float(v) for (m, r, d), v in acts.items()} == got_acts
    assert {k: (float(v), str(d)) for k, (v, d) in targets.items()} == got_targets


def test_a_re_run_with_no_new_files_loads_nothing_twice(loaded):
    with duckdb.connect(str(loaded), read_only=True) as conn:
        dup = conn.execute(
            "select count(*) - count(distinct (_file_path, _file_sha256, _sheet, _row_number)) "
            "from raw.rural_centre_reports__reports"
        ).fetchone()[0]
        versions = conn.execute(
            "select count(*), count(distinct (file_path, sha256)) from meta.received_files"
        ).fetchone()
    assert dup == 0
    assert versions[0] == versions[1]
