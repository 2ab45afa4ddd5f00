"""All faults at once, end to end through Airflow: every HTTP source with every simulator fault
switched on (rate limits, 5xx, dropped bodies, slow answers, missing fields, drift, ties,
backwards and skewed clocks, typed years, capped pages, shifting and unordered offset
listings), the drop folders full of messy and broken files, and a SIGKILL at each failpoint
of one run (mid-extract, after the raw insert, just before the load's commit, right after
the publish's swap). The published tables equal the truth exactly at both clocks, nothing is
stored twice, every record set aside is in the ledger with its reason, and no personal data
reaches the landing zone's shared part or the published file."""

from __future__ import annotations

import csv
import io
import shutil

import duckdb
import pytest

from extract.sources import all_endpoints, all_file_tables
from simulator import drops, orders, truth
from simulator.faults import typo_year
from simulator.process import SimulatorProcess
from simulator.sources import parse_specs
from simulator.world import WorldConfig, parse_ts
from tests.conftest import Pipeline, assert_matches_truth

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

SEED, SCALE = 13, 0.05
CFG = WorldConfig(SEED, SCALE)
CLOCK_1 = "2021-06-30T23:59:59+08:00"
CLOCK_2 = "2021-12-31T23:59:59+08:00"
HTTP = (
    "rate_limit=0.05,server_error=0.05,drop=0.03,slow=0.02,slow_seconds=0.05,missing=0.03,drift=0.2,ties=0.2,"
    "backwards=0.1,shift=0.2,skew=0.03,typo_year=0.05,page_cap=19"
)
SPECS = [
    f"kechuang_orders:{HTTP}",
    f"kechuang_roadshows:{HTTP}",
    f"scipop_platform:{HTTP},unordered=1",
    "rural_centre_reports:broken=0.3",
    "plan_ledger:broken=0.5",
]
FAULTS = parse_specs(SPECS)
KILLED = [  # (DAG, failpoint): one SIGKILL at each failpoint of the run at the first clock
    ("extract_kechuang_orders", "mid_extract"),
    ("extract_scipop_platform", "raw_inserted"),
    ("extract_rural_centre_reports", "before_commit"),
    ("transform_publish", "after_swap"),
]


def expected(clock: str) -> dict:
    return truth.metric_values(CFG, parse_ts(clock), sources=truth.ALL_SOURCES, faults=FAULTS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("all-faults")
    data = base / "data"
    with SimulatorProcess(
        base / "sim", seed=SEED, scale=SCALE, clock=CLOCK_1, faults=SPECS, incoming=data / "incoming"
    ) as sim:
        pipeline = Pipeline(data, sim)
        pipeline.prepare()
        # first clock: each killed DAG run is followed by a new run of the same DAG
        killed = dict(KILLED)
        for dag_id in [
            "extract_scipop_platform",
            "extract_kechuang_roadshows",
            "extract_kechuang_orders",
            "extract_rural_centre_reports",
            "extract_plan_ledger",
            "transform_publish",
        ]:
            if dag_id in killed:
                pipeline.dag_test_killed_at(dag_id, killed[dag_id])
            result = pipeline.dag_test(dag_id)
            assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        first = pipeline.published_values()
        shutil.copy(pipeline.published_db, base / "first.duckdb")
        # second clock: the whole pipeline as `make pipeline` runs it
        sim.set_clock(CLOCK_2)
        result = pipeline.run()
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        yield {"pipeline": pipeline, "first": first, "second": pipeline.published_values(), "base": base}


def test_after_every_kill_the_first_publish_equals_the_truth(run):
    assert_matches_truth(run["first"], expected(CLOCK_1))


def test_the_next_publish_after_the_sources_moved_on_equals_the_truth(run):
    assert_matches_truth(run["second"], expected(CLOCK_2))


def test_nothing_is_stored_or_loaded_twice(run):
    with duckdb.connect(str(run["pipeline"].working_db), read_only=True) as conn:
        assert conn.execute("select sum(clock_skewed) from meta.extract_runs").fetchone()[0] > 0, "skew was played"
        for ep in all_endpoints():
            dup = conn.execute(
                f"select count(*) - count(distinct ({', '.join(ep.key)}, _record_hash)) from {ep.raw_table}"
            ).fetchone()[0]
            assert dup == 0, f"{ep.raw_table}: a version stored twice"
        for table in all_file_tables():
            dup = conn.execute(
                f"select count(*) - count(distinct (_file_sha256, _sheet, _row_number)) from {table.raw_table}"
            ).fetchone()[0]
            assert dup == 0, f"{table.raw_table}: a file's row loaded twice"
        manifests = conn.execute("select count(*) - count(distinct manifest_id) from meta.loaded_manifests").fetchone()[
            0
        ]
    assert manifests == 0
    with duckdb.connect(str(run["pipeline"].published_db), read_only=True) as conn:
        keys = conn.execute(
            "select count(*) - count(distinct (metric_id, region_code, period_month)) from metrics.plan_metric_values"
        ).fetchone()[0]
    assert keys == 0


def _pipeline_quarantine(conn) -> set[tuple[str, tuple]]:
    """(entity, key) of every HTTP record the pipeline set aside: at extraction and at staging."""
    keys = {
        "orders": ["order_id"],
        "service_teams": ["team_id"],
        "roadshows": ["roadshow_id"],
        "roadshow_projects": ["project_id"],
        "exhibition_stops": ["stop_id"],
        "stop_visits": ["stop_id", "visit_date"],
        "rural_centres": ["centre_id"],
    }
    out = set()
    for endpoint, cols in keys.items():
        extract = ", ".join(f"record->>'{c}'" for c in cols)
        for row in conn.execute(
            f"select {extract} from meta.quarantine where endpoint = ? and record is not null", [endpoint]
        ).fetchall():
            out.add((endpoint, tuple(row)))
    for table, key in conn.execute(
        "select table_name, record_key from intermediate.int_quarantined_records where file is null"
    ).fetchall():
        out.add((table, tuple(key.split("@"))))
    return out


def _truth_quarantine(clock: str) -> set[tuple[str, tuple]]:
    out = set()
    for (entity, record_id), _violation in truth.quarantined_records(CFG, parse_ts(clock), FAULTS).items():
        if entity == "stop_visits":  # the id is <stop>/<true date>; the key is the date as served
            stop_id, day = record_id.split("/")
            if typo_year(entity, record_id, FAULTS["scipop_platform"].typo_year):
                day = f"{int(day[:4]) + 1}{day[4:]}"
            out.add((entity, (stop_id, day)))
        else:
            out.add((entity, (record_id,)))
    return out


def test_every_record_set_aside_is_in_the_ledger_with_its_reason(run):
    pipeline = run["pipeline"]
    with duckdb.connect(str(pipeline.working_db), read_only=True) as conn:
        http = _pipeline_quarantine(conn)
        # records of the latest clock: a record the source has since corrected is no longer bad
        files = set(
            conn.execute(
                "select file, row_number, column_name from meta.quarantine where row_number is not null "
                "union select file, row_number, column_name from intermediate.int_quarantined_records where file is not null"
            ).fetchall()
        )
        rejected = {
            r[0] for r in conn.execute("select file_path from meta.received_files where status = 'rejected'").fetchall()
        }
        staging = dict(
            conn.execute(
                "select suite || ' ' || check_name, observed_value from meta.quality_checks where layer = 'staging' "
                "and run_id = (select run_id from meta.quality_checks order by checked_at desc limit 1)"
            ).fetchall()
        )
        staged = conn.execute(
            "select source || '.' || table_name || ' ' || reason, count(*) from intermediate.int_quarantined_records group by all"
        ).fetchall()
    assert http == _truth_quarantine(CLOCK_2), "the HTTP records set aside are exactly those the truth leaves out"
    assert len(http) > 20 and len(staged) >= 4, "the faults planted plenty to set aside"
    plan = drops.drop_plan(CFG, parse_ts(CLOCK_2), FAULTS)
    assert {(q.path, q.row, q.column) for q in plan.quarantined} <= files
    assert {r.path for r in plan.rejected} == rejected
    # AND the last gate recorded the staging quarantine, per source, table and reason
    assert staging == {key: float(n) for key, n in staged}


def _personal_values(data) -> set[str]:
    """Phones and names the sources sent: orders' contact_phone, the report uploads' 填报人/联系电话."""
    values = {v.body["contact_phone"] for v in orders.order_versions(CFG) if v.body.get("contact_phone")}
    for path in (data / "incoming" / "rural_centre_reports").rglob("*.csv"):
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        rows = list(csv.reader(io.StringIO(text.replace("\0", ""))))
        header = next((r for r in rows if "联系电话" in r), None)
        if header:
            at = [header.index("填报人"), header.index("联系电话")]
            values |= {r[i] for r in rows[rows.index(header) + 1 :] for i in at if len(r) > i and r[i].strip()}
    return {v for v in values if len(v) >= 3}


def test_no_personal_data_reaches_the_landing_zone_or_the_published_file(run):
    data = run["pipeline"].data_dir
    personal = _personal_values(data)
    assert len(personal) > 10 and "张老师" in personal
    landed = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in (data / "landing").rglob("*") if p.is_file()
    )
    assert not [v for v in personal if v in landed]
    with duckdb.connect(str(run["pipeline"].published_db), read_only=True) as conn:
        published = ""
        for (table,) in conn.execute("select table_name from duckdb_tables()").fetchall():
            published += str(conn.execute(f"select * from metrics.{table}").fetchall())
    assert not [v for v in personal if v in published]
    # the uploads themselves are kept only in the restricted store, owner-only
    store = data / "restricted" / "originals"
    assert (store.stat().st_mode & 0o777) == 0o700 and any(store.rglob("*.pack")) and any(store.rglob("index.jsonl"))
